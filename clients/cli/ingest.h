// `latentsearch ingest`: encode images through the encoder and upsert them
// into a collection pinned to the model version that encoded them.
//
// Ingest(): the collection is created when absent (dim and model from the
// encoder's ListModels; CreateCollection records the model name and
// version), else its recorded model version is used, so a resumed run
// encodes with the same version. Ids already in the collection (ListItems)
// are skipped: re-running after an interruption only does what is left, and
// a complete collection gets nothing new. Batches of up to `batch_size`
// images (and at most ~3 MiB of request) are encoded by `in_flight` workers
// at once, each upserting its batch in its own stream, so encoding and
// upserting overlap (≥ 2 Encode calls in flight by default).
//
// Reindex(): re-encodes every item of a collection (images found again
// through the item uris, common/items/item_uri.h) with the newest version of its model
// into a new collection, by default "<base>-v<new version>" where <base> is
// the old name without a trailing "-v<digits>"; the old one is kept.
// Flag-free; the command lives in ingest.cc too.
// Thread-safety: thread-compatible; `progress` is called from worker threads
// (serialised by a mutex).
#ifndef LATENTSEARCH_CLIENTS_CLI_INGEST_H_
#define LATENTSEARCH_CLIENTS_CLI_INGEST_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "clients/cli/command.h"
#include "clients/cli/endpoint.h"
#include "common/items/image_resolver.h"
#include "common/items/image_source.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::cli {

struct IngestProgress {
  uint64_t done = 0;     // items encoded and upserted (this run)
  uint64_t todo = 0;     // items this run has to do
  uint64_t skipped = 0;  // already present
  double seconds = 0;
};

struct IngestOptions {
  // Required.
  std::string collection;
  // The model; version 0 = the newest the encoder holds (ignored for an
  // existing collection, whose recorded version is used; a different pinned
  // version is FAILED_PRECONDITION).
  v1::ModelRef model;
  int batch_size = 256;  // 1..1024
  int in_flight = 2;     // 1..64
  std::function<void(const IngestProgress&)> progress;
};

struct IngestResult {
  std::string collection;
  v1::ModelRef model;
  bool created = false;
  uint64_t total = 0;       // items in the source
  uint64_t skipped = 0;     // already present
  uint64_t upserted = 0;    // this run
  uint64_t item_count = 0;  // in the collection afterwards
  double seconds = 0;
};

absl::StatusOr<IngestResult> Ingest(const Endpoint& encoder, const Endpoint& search,
                                    const items::ImageSource& source, const IngestOptions& options);

struct ReindexResult {
  std::string from;
  v1::ModelRef from_model;
  IngestResult to;
  bool up_to_date = false;  // the collection already had the newest version
};

// `target` "" = the default name described above.
absl::StatusOr<ReindexResult> Reindex(const Endpoint& encoder, const Endpoint& search,
                                      const std::string& collection, const std::string& target,
                                      const IngestOptions& options, items::ImageResolver* resolver);

// The one-line --json forms of the results (no trailing newline): strings
// escaped, seconds with 3 decimals.
std::string IngestResultJson(const IngestResult& r);
std::string ReindexResultJson(const ReindexResult& r);

Command IngestCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_INGEST_H_

// Flags several pipeline subcommands share (ingest, query, eval, bench,
// train): which collection and model, and how to search. Defined once here
// because absl flag names are process-wide. Each command documents what ""
// means for it.
//
// This is the CLI binary's own code: it reads flags; libraries must not.
#ifndef LATENTSEARCH_CLIENTS_CLI_PIPELINE_FLAGS_H_
#define LATENTSEARCH_CLIENTS_CLI_PIPELINE_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "latentsearch/v1/common.pb.h"
#include "latentsearch/v1/search.pb.h"

ABSL_DECLARE_FLAG(std::string, collection);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(uint64_t, model_version);
ABSL_DECLARE_FLAG(std::string, metric);
ABSL_DECLARE_FLAG(std::string, index);
ABSL_DECLARE_FLAG(uint32_t, k);
ABSL_DECLARE_FLAG(uint32_t, ef);
ABSL_DECLARE_FLAG(uint32_t, shards);
ABSL_DECLARE_FLAG(uint32_t, replication_factor);
ABSL_DECLARE_FLAG(std::string, write_consistency);

namespace latentsearch::cli {

// --metric: "l1", "l2", "cosine", "all" or a comma list; "" = `fallback`.
// INVALID_ARGUMENT naming the allowed values.
absl::StatusOr<std::vector<v1::Metric>> MetricsFromFlag(const std::string& fallback);

// --index: "exact", "hnsw", "both"/"all" or a comma list; "" = `fallback`.
absl::StatusOr<std::vector<v1::IndexKind>> IndexKindsFromFlag(const std::string& fallback);

// Names of --shards, --replication_factor, --write_consistency: how a
// command that creates a collection lays it out on a search cluster.
std::vector<std::string> ClusterLayoutFlagNames();
// Sets shards, replication_factor and write_consistency of `request` from
// those flags. INVALID_ARGUMENT for an unknown consistency level.
absl::Status ApplyClusterLayoutFlags(v1::CreateCollectionRequest* request);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_PIPELINE_FLAGS_H_

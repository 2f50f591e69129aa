// Retrieval quality of a labelled collection, measured through the search
// service (what `latentsearch eval` prints and `report` shows). Flag-free.
//
// Queries: `num_queries` items drawn with data::SampleIndices(seed) from the
// collection's items in id order (ListItems), each searched by item id; or,
// with `query_collection` set, items of that other collection (e.g. a
// held-out test split) searched by their vectors against `collection`.
// For every metric and index kind, each query asks for
// max(k, map_depth) + 1 neighbours, self included, and:
//   precision@k            share of the first k neighbours, the query item
//                          itself left out, whose label equals the query's;
//   precision@k (incl.)    the same over the first k neighbours with the query
//                          itself kept (it is always its own nearest, so this
//                          is the seed's more flattering figure);
//   mAP@depth              mean over queries of
//                          AP = (1 / min(R, depth)) * sum_{i <= depth} P(i) rel(i),
//                          self left out, R = items of the query's class in
//                          the collection other than the query;
//   recall@k vs exact      (HNSW rows) |HNSW top k ∩ exact top k| / k, self left
//                          out, averaged.
// Queries whose label is kNoLabel are skipped (an unlabelled collection is
// FAILED_PRECONDITION). With `baseline` the same queries are answered in
// process by exact search over the items' raw pixels (scaled to [0, 1],
// read back through their uris, common/index ExactSearch): rows with
// source "raw pixels".
// Thread-safety: functions are thread-compatible (RunEval uses `resolver`).
#ifndef LATENTSEARCH_CLIENTS_CLI_EVAL_H_
#define LATENTSEARCH_CLIENTS_CLI_EVAL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "clients/cli/command.h"
#include "clients/cli/endpoint.h"
#include "clients/cli/sources.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::cli {

struct EvalOptions {
  // The collection searched (required).
  std::string collection;
  // "" = queries are items of `collection`; else queries are items of this
  // collection (same dim), searched by vector.
  std::string query_collection;
  // Queries drawn (at most the items there are).
  int num_queries = 500;
  uint64_t seed = 1;
  // The k of precision@k and recall@k, 1..1000.
  int k = 10;
  // The depth of mAP, 1..1000 (mAP@100 by default).
  int map_depth = 100;
  // Empty = L1, L2 and cosine.
  std::vector<v1::Metric> metrics;
  // Empty = exact and HNSW (HNSW only where the collection keeps it).
  std::vector<v1::IndexKind> index_kinds;
  // HNSW candidate list; 0 = max(128, depth + 1).
  uint32_t ef = 0;
  // Add the raw-pixel baseline rows.
  bool baseline = true;
  // Queries per SearchBatch call.
  int batch_size = 100;
  // Wait (polling GetCollection) until HNSW indexes are READY before
  // measuring, up to this many seconds (0 = do not wait).
  double wait_for_index_seconds = 600;
  // Called with a line of progress now and then; may be empty.
  std::function<void(const std::string&)> progress;
};

// One row of the table.
struct EvalRow {
  std::string source;  // "model" or "raw pixels"
  v1::Metric metric = v1::METRIC_L2;
  v1::IndexKind index_kind = v1::INDEX_KIND_EXACT;
  double precision_at_k = 0;
  double precision_at_k_including_self = 0;
  double map = 0;
  // HNSW rows: recall@k against the exact row of the same metric.
  std::optional<double> recall_vs_exact;
  // HNSW rows: queries answered by the exact index instead.
  uint64_t exact_fallbacks = 0;
};

struct EvalResult {
  std::string collection;
  std::string query_collection;  // "" when queries came from `collection`
  v1::ModelRef model;            // the collection's model
  uint64_t items = 0;            // items in `collection`
  uint32_t dim = 0;
  int num_queries = 0;  // labelled queries measured
  uint64_t seed = 0;
  int k = 0;
  int map_depth = 0;
  std::vector<EvalRow> rows;
  double seconds = 0;
  // Why the raw-pixel rows are missing ("" when present or not asked for),
  // e.g. items whose uris name no image.
  std::string baseline_note;

  // An aligned text table with a header line naming collection, model,
  // queries and seed.
  std::string ToTable() const;
  // {"collection":..., "model":{"name":..,"version":..}, "items":..,
  //  "queries":.., "seed":.., "k":.., "map_depth":.., "rows":[{"source":..,
  //  "metric":"l2", "index":"exact", "precision_at_k":.., "precision_at_k_
  //  including_self":.., "map":.., "recall_vs_exact":.. (HNSW rows),
  //  "exact_fallbacks":..}]}
  std::string ToJson() const;
  // The row for (source, metric, kind), or nullptr.
  const EvalRow* Find(const std::string& source, v1::Metric metric, v1::IndexKind kind) const;
};

// Runs the evaluation described above. Errors: a service's status
// (RpcError), FAILED_PRECONDITION for an unlabelled collection or one
// without labelled items, INVALID_ARGUMENT for options out of range.
absl::StatusOr<EvalResult> RunEval(const Endpoint& search, const EvalOptions& options,
                                   ImageResolver* resolver);

// --- The measures, on one query's ranked neighbour labels (self excluded).

// Share of the first k labels equal to `label` (divides by k even when
// fewer are given).
double PrecisionAtK(absl::Span<const int32_t> ranked_labels, int32_t label, int k);

// AP@depth as defined above; `relevant` = R. 0 when R = 0.
double AveragePrecision(absl::Span<const int32_t> ranked_labels, int32_t label, int depth,
                        uint64_t relevant);

// "l1", "l2", "cosine" / "exact", "hnsw".
std::string MetricLabel(v1::Metric metric);
std::string IndexKindLabel(v1::IndexKind kind);

// The `eval` subcommand.
Command EvalCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_EVAL_H_

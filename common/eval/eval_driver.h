// Retrieval quality of a labelled collection, measured through a search
// backend (search_backend.h): what `latentsearch eval` prints and `report`
// shows. Flag-free, gRPC-free.
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
// (The measures: retrieval_quality.h.) Queries whose label is kNoLabel are
// skipped (an unlabelled collection is FAILED_PRECONDITION). With
// `baseline` the same queries are answered in process by exact search over
// the items' raw pixels (scaled to [0, 1], read back through their uris by
// the resolver; knn_ranking.h): rows with source "raw pixels". Without a
// resolver, or when an image does not resolve or the images differ in
// size, those rows are left out and EvalResult::baseline_note says why
// ("skipped: ..."); the model rows stand.
// Thread-safety: RunEval is thread-compatible (it uses `backend` and
// `resolver`).
#ifndef LATENTSEARCH_COMMON_EVAL_EVAL_DRIVER_H_
#define LATENTSEARCH_COMMON_EVAL_EVAL_DRIVER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/eval/eval_result.h"
#include "common/eval/search_backend.h"
#include "common/items/image_resolver.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::eval {

struct EvalOptions {
  // The collection searched (required).
  std::string collection;
  // "" = queries are items of `collection`; else queries are items of this
  // collection (same dim), searched by vector.
  std::string query_collection;
  // Queries drawn (at most the items there are).
  int num_queries = 500;
  uint64_t seed = 1;
  // The k of precision@k and recall@k, 1..999.
  int k = 10;
  // The depth of mAP, 1..999 (mAP@100 by default).
  int map_depth = 100;
  // Empty = L1, L2 and cosine (METRIC_UNSPECIFIED is refused).
  std::vector<v1::Metric> metrics;
  // Empty = exact and HNSW (HNSW only where the collection keeps it).
  std::vector<v1::IndexKind> index_kinds;
  // HNSW candidate list; 0 = max(128, depth + 1).
  uint32_t ef = 0;
  // Add the raw-pixel baseline rows.
  bool baseline = true;
  // Queries per SearchBatch call.
  int batch_size = 100;
  // Wait (backend.WaitForIndexes) until HNSW indexes are built before
  // measuring, up to this many seconds (0 = do not wait).
  double wait_for_index_seconds = 600;
  // Called with a line of progress now and then; may be empty.
  std::function<void(const std::string&)> progress;
};

// OK when the options other than `collection` are in range (k and
// map_depth 1..999, num_queries and batch_size >= 1, metrics L1, L2 or
// cosine); else INVALID_ARGUMENT naming the values and the ranges. RunEval
// checks them; callers may check earlier (the CLI, before dialling).
absl::Status CheckEvalOptions(const EvalOptions& options);

// Runs the evaluation described above. `resolver` (may be null: no
// raw-pixel rows, "skipped: no image resolver") reads the images back.
// Errors: the backend's statuses; FAILED_PRECONDITION for an unlabelled
// collection or one without labelled items, a query collection of another
// dim or without labelled items; INVALID_ARGUMENT for an empty collection
// name or CheckEvalOptions' refusals; INTERNAL when the backend answers a
// batch with a number of results other than its number of queries.
absl::StatusOr<EvalResult> RunEval(SearchBackend& backend, const EvalOptions& options,
                                   items::ImageResolver* resolver);

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_EVAL_DRIVER_H_

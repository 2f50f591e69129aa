// k-NN retrieval quality of embeddings by class label over whole arrays:
// exact search (common/index ExactSearch, the oracle) and precision@k
// (retrieval_quality.h) of every query. The measure the trainer reports
// every epoch (EpochEvent.precision_at_10) and tests/bench/quality reports
// for whole data sets. No LibTorch, no gRPC.
// Thread-safety: pure functions over caller-owned memory.
#ifndef LATENTSEARCH_COMMON_EVAL_KNN_PRECISION_H_
#define LATENTSEARCH_COMMON_EVAL_KNN_PRECISION_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/index/metric.h"

namespace latentsearch::eval {

struct KnnPrecisionOptions {
  size_t k = 10;
  // Search threads; 0 = the hardware's.
  int threads = 0;
};

// Mean over the queries of (neighbours among the k nearest base rows that
// share the query's label) / k.
//   base: n × dim floats with n labels; queries: nq × dim with nq labels.
// When `queries_are_base` (queries == base, same rows), each query's own
// row is excluded from its neighbours. Cosine normalises copies of the rows.
// INVALID_ARGUMENT for mismatched sizes, dim 0, k 0 or fewer than k
// candidate rows.
absl::StatusOr<double> KnnPrecisionAtK(index::Metric metric, absl::Span<const float> base,
                                       absl::Span<const int32_t> base_labels,
                                       absl::Span<const float> queries,
                                       absl::Span<const int32_t> query_labels, size_t dim,
                                       bool queries_are_base,
                                       const KnnPrecisionOptions& options = {});

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_KNN_PRECISION_H_

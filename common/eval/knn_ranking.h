// Exact k-NN over whole arrays, by label: each query's nearest base rows
// (common/index ExactSearch, the oracle) as their labels, nearest first,
// with and without the query's own row. What k-NN precision
// (knn_precision.h: trainer, quality bench) and the raw-pixel baseline of
// the collection evaluation (eval_driver.h) measure. No LibTorch, no gRPC.
// Thread-safety: a pure function over caller-owned memory.
#ifndef LATENTSEARCH_COMMON_EVAL_KNN_RANKING_H_
#define LATENTSEARCH_COMMON_EVAL_KNN_RANKING_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/index/metric.h"

namespace latentsearch::eval {

// One query's nearest base rows by label, nearest first.
struct RankedLabels {
  // The labels of the rows found, the query's own row kept where found.
  std::vector<int32_t> including_self;
  // The same without the query's own row.
  std::vector<int32_t> excluding_self;
};

// A query that is no row of the base (KnnRankOptions::self_rows).
inline constexpr uint32_t kNotInBase = UINT32_MAX;

struct KnnRankOptions {
  // Rows searched per query (>= 1; fewer come back when the base has
  // fewer). Ask one more than needed where the query's own row is among
  // them.
  size_t k = 10;
  // Search threads; 0 = the hardware's.
  int threads = 0;
  // Empty (the queries are no base rows), or one entry per query: the base
  // row that is the query itself (kNotInBase for none), left out of
  // excluding_self. Not owned; must outlive the call.
  absl::Span<const uint32_t> self_rows;
};

// The options.k nearest rows of `base` (n × dim floats, n =
// base_labels.size()) to each of the nq queries (`queries`: nq × dim
// floats) by exact search under `metric`, equal distances in row order: nq
// rankings. Cosine normalises copies of the rows (one copy when `queries`
// is the very same memory as `base`); other metrics copy nothing.
// INVALID_ARGUMENT for mismatched sizes, dim 0, k 0, or self rows that are
// not one per query inside the base.
absl::StatusOr<std::vector<RankedLabels>> KnnRankedLabels(
    index::Metric metric, absl::Span<const float> base, absl::Span<const int32_t> base_labels,
    absl::Span<const float> queries, size_t dim, const KnnRankOptions& options);

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_KNN_RANKING_H_

// Retrieval quality by class label, on one query's ranked neighbours: the
// measures `latentsearch eval` reports through the search service, the
// trainer reports every epoch (knn_precision.h) and tests/bench/quality
// reports for whole data sets. One definition for all of them:
//   precision@k  share of the first k ranked labels equal to the query's
//                (divided by k even when fewer are given);
//   AP@depth     (1 / min(R, depth)) * sum_{i <= depth} P(i) rel(i), R =
//                the relevant items there are (0 when R = 0);
//   recall@k     |approximate top k ∩ exact top k| / k.
// The caller leaves the query itself out of the ranking where it must.
// No LibTorch, no gRPC.
// Thread-safety: pure functions; QualityAccumulator is thread-compatible.
#ifndef LATENTSEARCH_COMMON_EVAL_RETRIEVAL_QUALITY_H_
#define LATENTSEARCH_COMMON_EVAL_RETRIEVAL_QUALITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace latentsearch::eval {

// Precision@k of `ranked_labels` for a query of class `label`; 0 for k <= 0.
double PrecisionAtK(absl::Span<const int32_t> ranked_labels, int32_t label, int k);

// AP@depth as above; `relevant` = R. 0 when R = 0 or depth <= 0.
double AveragePrecision(absl::Span<const int32_t> ranked_labels, int32_t label, int depth,
                        uint64_t relevant);

// Recall@k of one query: the share of `exact` (its exact top k) that
// `approximate` also holds, divided by k. 0 for k <= 0.
double RecallAtK(absl::Span<const std::string> approximate, absl::Span<const std::string> exact,
                 int k);

// Mean precision@k, precision@k with the query kept, and AP over queries.
struct QualityAccumulator {
  double precision_sum = 0;
  double precision_including_self_sum = 0;
  double ap_sum = 0;
  int queries = 0;

  // One query: `excluding_self` ranked without the query item (at least
  // `depth` labels where there are), `including_self` with it.
  void Add(absl::Span<const int32_t> excluding_self, absl::Span<const int32_t> including_self,
           int32_t label, int k, int depth, uint64_t relevant);
  double precision() const { return queries ? precision_sum / queries : 0; }
  double precision_including_self() const {
    return queries ? precision_including_self_sum / queries : 0;
  }
  double mean_average_precision() const { return queries ? ap_sum / queries : 0; }
};

// Mean recall@k over queries: approximate[q] against exact[q]; 0 for none.
double MeanRecallAtK(const std::vector<std::vector<std::string>>& approximate,
                     const std::vector<std::vector<std::string>>& exact, int k);

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_RETRIEVAL_QUALITY_H_

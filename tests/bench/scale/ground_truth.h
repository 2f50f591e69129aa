// Exact k-nearest-neighbour answers computed inside the scale benchmark (the
// oracle its recall figures are measured against, independent of the
// service's exact index): a brute-force scan per query under L1, L2 or
// cosine, on a few threads.
// Thread-safety: pure functions (they start and join their own threads).
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_GROUND_TRUTH_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_GROUND_TRUTH_H_

#include <cstdint>
#include <vector>

#include "latentsearch/v1/common.pb.h"

namespace latentsearch::bench {

// `rows` (n x dim) scaled to unit length (zero rows stay zero).
std::vector<float> Normalized(const std::vector<float>& rows, uint32_t dim);

// For each of the nq `queries` (nq x dim), the row numbers of the k rows of
// `base` (n x dim) closest under `metric`, closest first (ties by row).
// For METRIC_COSINE, `base` and `queries` must already be Normalized().
std::vector<std::vector<uint32_t>> ExactNeighbors(v1::Metric metric, const float* base, uint64_t n,
                                                  uint32_t dim, const float* queries, uint32_t nq,
                                                  uint32_t k, int threads);

// Mean over queries of |got[q] ∩ truth[q]| / |truth[q]|.
double RecallAtK(const std::vector<std::vector<uint32_t>>& got,
                 const std::vector<std::vector<uint32_t>>& truth);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_GROUND_TRUTH_H_

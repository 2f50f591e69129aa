// Exact (brute-force) k-nearest-neighbour search over a contiguous
// row-major matrix: the oracle every approximate structure is tested
// against (STYLE.md point 9). Multi-threaded blocked scan with top-k
// selection; batches of queries share each block of the base while it is
// in cache (and, for L2 / cosine with many queries, may use a GEMM path).
//
// Results are exact and deterministic: closest first, equal scores in
// ascending slot order.
// Thread-safety: ExactSearch is a pure function over caller-owned memory;
// concurrent calls are safe as long as nobody writes `base` meanwhile.
#ifndef LATENTSEARCH_COMMON_INDEX_EXACT_H_
#define LATENTSEARCH_COMMON_INDEX_EXACT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/index/bitset.h"
#include "common/index/metric.h"

namespace latentsearch::index {

// One result: a row number of the base matrix ("slot") and the user-facing
// distance (metric.h).
struct Neighbor {
  uint32_t slot = 0;
  float distance = 0;
  bool operator==(const Neighbor& o) const { return slot == o.slot && distance == o.distance; }
};

struct ExactSearchOptions {
  // Neighbours wanted per query (>= 1). Fewer come back when fewer rows are
  // allowed.
  size_t k = 10;
  // Only rows i with allowed->Test(i) (allowed->size() >= n); nullptr = all.
  const Bitset* allowed = nullptr;
  // Worker threads; 0 = hardware concurrency. Small problems use fewer.
  int num_threads = 0;
  // kCosine only: the rows are stored as they came, not normalised, and
  // row_scale[i] is 1/||row i|| (InverseNorm in metric.h; 0 for a zero row),
  // so row i scores -q.row_i · row_scale[i]. nullptr = normalised rows.
  const float* row_scale = nullptr;
};

// For each of nq queries (nq × dim), its k nearest rows of `base` (n × dim)
// under `metric`, into (*results)[q], closest first. For kCosine the queries
// must already be normalised (NormalizeRows), and the base too unless
// options.row_scale is given.
// INVALID_ARGUMENT for k = 0 or dim = 0 (library callers validate requests
// first; this only guards programmer errors).
absl::Status ExactSearch(Metric metric, const float* base, size_t n, size_t dim,
                         const float* queries, size_t nq, const ExactSearchOptions& options,
                         std::vector<std::vector<Neighbor>>* results);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_EXACT_H_

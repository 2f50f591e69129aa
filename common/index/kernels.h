// Internal: the per-ISA distance kernels behind metric.h and exact.cc.
// Not part of the public API; include only from common/index/ and its tests.
//
// Three families of kernels, each in a scalar, an AVX2+FMA and an AVX-512
// variant chosen once at run time (no global -m flags; each variant's
// functions carry __attribute__((target(...)))):
//   * pair kernels (L1, squared L2, dot) — the *canonical* score of a
//     (query, row) pair for the active ISA;
//   * row kernels — one query against many rows, bit-identical to calling the
//     pair kernel per row (same chunking and the same reduction tree), so a
//     row's score never depends on where it sits in a block;
//   * lane kernels — several queries against a transposed panel of 64 rows
//     (one row per SIMD lane; GEMM-style register blocking). Their scores
//     differ from the canonical ones in the last bits: exact.cc keeps a
//     rigorous slack and rescores its candidates with the pair kernels.
// Thread-safety: all kernels are pure; SetIsaForTesting is meant for tests
// (it swaps an atomic pointer, so concurrent callers see one table or the
// other, never a mix within one kernel call).
#ifndef LATENTSEARCH_COMMON_INDEX_KERNELS_H_
#define LATENTSEARCH_COMMON_INDEX_KERNELS_H_

#include <cstddef>
#include <cstdint>

namespace latentsearch::index::internal {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// Score kinds of the row / lane kernels: L1, squared L2, negated dot.
enum ScoreKind { kScoreL1 = 0, kScoreL2 = 1, kScoreNegDot = 2 };

// Rows of a lane panel; panels are [row / 64][dim][row % 64], zero-padded.
inline constexpr size_t kPanelRows = 64;

using PairFn = float (*)(const float* a, const float* b, size_t dim);
// out[i] = score(query, row i) for i < m, where row i is
// base + (slots ? slots[i] : first + i) * dim. Bit-identical to the pair
// kernel (negated for kScoreNegDot).
using RowsFn = void (*)(const float* query, const float* base, size_t dim, const uint32_t* slots,
                        size_t first, size_t m, float* out);
// Scores of mq (1..kMaxLaneQueries) queries (row-major, stride dim) against
// one 64-row panel (dim × 64) with its per-row `aux` values (PackPanel):
// out[qi * 64 + r] for r < 64,
//   kScoreL1: aux[r] - 2 sum_j min(q_j, b_j)  (= sum |q - b| - sum q, since
//             |x - y| = x + y - 2 min(x, y): two operations per element
//             instead of three);
//   kScoreL2: aux[r] - 2 q.b  (= ||q - b||² - ||q||²);
//   kScoreNegDot: -q.b;
// and masks[qi] bit r set iff out[qi * 64 + r] <= tau[qi] (the threshold
// test fused into the kernel, so the caller only looks at scores that pass).
// The per-query constants (sum q, ||q||²) are left out: they do not change
// a query's ranking.
using LaneFn = void (*)(const float* queries, int mq, const float* panel, size_t dim,
                        const float* norms, const float* tau, float* out, uint64_t* masks);
// Writes the indices i < m with scores[i] <= tau (ascending) to idx; returns
// how many. NaN never qualifies.
using SelectFn = size_t (*)(const float* scores, size_t m, float tau, uint32_t* idx);
// PackPanel (below); per ISA because a transposing pack is much faster.
using PackFn = float (*)(const float* base, size_t dim, const uint32_t* slots, size_t first,
                         size_t m, int kind, float* panel, float* aux);

inline constexpr int kMaxLaneQueries = 6;

struct KernelTable {
  Isa isa;
  const char* name;  // "scalar", "avx2", "avx512"
  PairFn l1;
  PairFn l2sq;
  PairFn dot;
  RowsFn rows[3];  // by ScoreKind
  LaneFn lane[3];  // by ScoreKind
  SelectFn select_le;
  PackFn pack;
};

// The active table (fastest supported ISA unless forced).
const KernelTable& Kernels();
// The table for `isa`, or nullptr when this CPU cannot run it.
const KernelTable* KernelsFor(Isa isa);
// Test hook: makes `isa` the active table; false (nothing changes) when the
// CPU cannot run it. ResetIsaForTesting() returns to the detected best.
bool SetIsaForTesting(Isa isa);
void ResetIsaForTesting();

// Per-ISA tables (kernels_*.cc). Calling the AVX tables' functions on a CPU
// without the ISA is undefined; use KernelsFor().
extern const KernelTable kScalarKernels;
extern const KernelTable kAvx2Kernels;
extern const KernelTable kAvx512Kernels;

// Packs m rows (row i as in RowsFn) into ceil(m / 64) panels (layout above,
// zero padding) and writes each packed row's aux value for `kind` (sum of
// its elements for kScoreL1, squared norm otherwise) to aux[0..m), 0 for the
// padding up to the next multiple of 64. Returns the largest row magnitude
// for the lane error bounds: max sum |b| for kScoreL1, max ||b||² otherwise.
// This is the portable version; KernelTable::pack does the same, faster.
float PackPanel(const float* base, size_t dim, const uint32_t* slots, size_t first, size_t m,
                int kind, float* panel, float* aux);

}  // namespace latentsearch::index::internal

#endif  // LATENTSEARCH_COMMON_INDEX_KERNELS_H_

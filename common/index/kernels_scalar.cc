// Portable kernels (no target attributes; the compiler may still use the
// baseline SSE2 for the inner loops) and the ISA-independent panel packing.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/index/kernels.h"

namespace latentsearch::index::internal {
namespace {

// Canonical scalar scores: eight partial sums (element j goes to j % 8),
// reduced as ((p0+p4)+(p2+p6))+((p1+p5)+(p3+p7)).
template <int kKind>
inline float Term(float a, float b) {
  if constexpr (kKind == kScoreL1) {
    return std::fabs(a - b);
  } else if constexpr (kKind == kScoreL2) {
    const float d = a - b;
    return d * d;
  } else {
    return a * b;
  }
}

template <int kKind>
float PairScalar(const float* a, const float* b, size_t dim) {
  float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t j = 0;
  for (; j + 8 <= dim; j += 8) {
    for (int t = 0; t < 8; ++t) p[t] += Term<kKind>(a[j + t], b[j + t]);
  }
  for (int t = 0; j < dim; ++j, ++t) p[t] += Term<kKind>(a[j], b[j]);
  return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
}

float L1Scalar(const float* a, const float* b, size_t dim) {
  return PairScalar<kScoreL1>(a, b, dim);
}
float L2SqScalar(const float* a, const float* b, size_t dim) {
  return PairScalar<kScoreL2>(a, b, dim);
}
float DotScalar(const float* a, const float* b, size_t dim) {
  return PairScalar<kScoreNegDot>(a, b, dim);
}

template <int kKind>
void RowsScalar(const float* query, const float* base, size_t dim, const uint32_t* slots,
                size_t first, size_t m, float* out) {
  for (size_t i = 0; i < m; ++i) {
    const size_t row = slots != nullptr ? slots[i] : first + i;
    const float s = PairScalar<kKind>(query, base + row * dim, dim);
    out[i] = kKind == kScoreNegDot ? -s : s;
  }
}

template <int kKind>
void LaneScalar(const float* queries, int mq, const float* panel, size_t dim, const float* aux,
                const float* tau, float* out, uint64_t* masks) {
  for (int qi = 0; qi < mq; ++qi) {
    const float* q = queries + static_cast<size_t>(qi) * dim;
    float acc[kPanelRows];
    for (size_t r = 0; r < kPanelRows; ++r) acc[r] = 0;
    for (size_t j = 0; j < dim; ++j) {
      const float qj = q[j];
      const float* p = panel + j * kPanelRows;
      for (size_t r = 0; r < kPanelRows; ++r) {
        if constexpr (kKind == kScoreL1) {
          acc[r] += std::min(qj, p[r]);
        } else {
          acc[r] += qj * p[r];
        }
      }
    }
    float* o = out + static_cast<size_t>(qi) * kPanelRows;
    uint64_t mask = 0;
    for (size_t r = 0; r < kPanelRows; ++r) {
      if constexpr (kKind == kScoreNegDot) {
        o[r] = -acc[r];
      } else {
        o[r] = aux[r] - 2.0f * acc[r];
      }
      if (o[r] <= tau[qi]) mask |= uint64_t{1} << r;
    }
    masks[qi] = mask;
  }
}

size_t SelectLeScalar(const float* scores, size_t m, float tau, uint32_t* idx) {
  size_t n = 0;
  for (size_t i = 0; i < m; ++i) {
    if (scores[i] <= tau) idx[n++] = static_cast<uint32_t>(i);
  }
  return n;
}

}  // namespace

const KernelTable kScalarKernels = {
    Isa::kScalar,
    "scalar",
    &L1Scalar,
    &L2SqScalar,
    &DotScalar,
    {&RowsScalar<kScoreL1>, &RowsScalar<kScoreL2>, &RowsScalar<kScoreNegDot>},
    {&LaneScalar<kScoreL1>, &LaneScalar<kScoreL2>, &LaneScalar<kScoreNegDot>},
    &SelectLeScalar,
    &PackPanel,
};

float PackPanel(const float* base, size_t dim, const uint32_t* slots, size_t first, size_t m,
                int kind, float* panel, float* aux) {
  float max_magnitude = 0;
  for (size_t p0 = 0; p0 < m; p0 += kPanelRows) {
    const size_t rows = std::min(kPanelRows, m - p0);
    const float* src[kPanelRows];
    for (size_t r = 0; r < rows; ++r) {
      const size_t row = slots != nullptr ? slots[p0 + r] : first + p0 + r;
      src[r] = base + row * dim;
    }
    // Dimension-major: the stores are sequential and the 64 source rows'
    // current cache lines stay in L1 (row-major stores with a stride of 64
    // floats thrash L1 once the panel outgrows it).
    float* dst = panel + (p0 / kPanelRows) * dim * kPanelRows;
    for (size_t j = 0; j < dim; ++j, dst += kPanelRows) {
      for (size_t r = 0; r < rows; ++r) dst[r] = src[r][j];
      for (size_t r = rows; r < kPanelRows; ++r) dst[r] = 0;
    }
    for (size_t r = 0; r < rows; ++r) {
      const float* v = src[r];
      float a0 = 0, a1 = 0, m0 = 0, m1 = 0;
      size_t j = 0;
      if (kind == kScoreL1) {
        for (; j + 2 <= dim; j += 2) {
          a0 += v[j];
          a1 += v[j + 1];
          m0 += std::fabs(v[j]);
          m1 += std::fabs(v[j + 1]);
        }
        if (j < dim) {
          a0 += v[j];
          m0 += std::fabs(v[j]);
        }
        aux[p0 + r] = a0 + a1;
        max_magnitude = std::max(max_magnitude, m0 + m1);
      } else {
        for (; j + 2 <= dim; j += 2) {
          a0 += v[j] * v[j];
          a1 += v[j + 1] * v[j + 1];
        }
        if (j < dim) a0 += v[j] * v[j];
        aux[p0 + r] = a0 + a1;
        max_magnitude = std::max(max_magnitude, aux[p0 + r]);
      }
    }
    for (size_t r = rows; r < kPanelRows; ++r) aux[p0 + r] = 0;
  }
  return max_magnitude;
}

}  // namespace latentsearch::index::internal

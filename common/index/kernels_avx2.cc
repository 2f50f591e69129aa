// AVX2 + FMA kernels. Every function carries the target attribute; nothing
// here runs unless KernelsFor() found avx2 and fma on the CPU.
//
// Canonical pair score: 8-float chunks (the last one masked, zero-filled),
// chunk c accumulated into acc[c % 2], then s = acc0 + acc1 reduced as
// (lo128 + hi128), then (l0+l2) + (l1+l3). Row kernels reduce each row with
// the same function, so row and pair kernels agree bit for bit.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "common/index/kernels.h"

#define LS_AVX2 __attribute__((target("avx2,fma")))
#define LS_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace latentsearch::index::internal {
namespace {

alignas(32) constexpr int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};

// Lanes [0, rem) set (rem clamped to 8).
LS_AVX2_INLINE __m256i TailMask(size_t rem) {
  const size_t r = rem >= 8 ? 8 : rem;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - r));
}

LS_AVX2_INLINE __m256 Abs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

template <int kKind>
LS_AVX2_INLINE __m256 Step(__m256 acc, __m256 q, __m256 b) {
  if constexpr (kKind == kScoreL1) {
    return _mm256_add_ps(acc, Abs(_mm256_sub_ps(q, b)));
  } else if constexpr (kKind == kScoreL2) {
    const __m256 d = _mm256_sub_ps(q, b);
    return _mm256_fmadd_ps(d, d, acc);
  } else {
    return _mm256_fmadd_ps(q, b, acc);
  }
}

template <int kKind, int R>
LS_AVX2_INLINE void Accumulate(const float* q, const float* const* rows, size_t dim,
                               __m256 (&acc)[R][2]) {
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= dim; j += 16) {
    const __m256 q0 = _mm256_loadu_ps(q + j);
    const __m256 q1 = _mm256_loadu_ps(q + j + 8);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = Step<kKind>(acc[r][0], q0, _mm256_loadu_ps(rows[r] + j));
      acc[r][1] = Step<kKind>(acc[r][1], q1, _mm256_loadu_ps(rows[r] + j + 8));
    }
  }
  if (j < dim) {
    const __m256i m0 = TailMask(dim - j);
    const __m256 q0 = _mm256_maskload_ps(q + j, m0);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = Step<kKind>(acc[r][0], q0, _mm256_maskload_ps(rows[r] + j, m0));
    }
    if (dim - j > 8) {
      const __m256i m1 = TailMask(dim - j - 8);
      const __m256 q1 = _mm256_maskload_ps(q + j + 8, m1);
      for (int r = 0; r < R; ++r) {
        acc[r][1] = Step<kKind>(acc[r][1], q1, _mm256_maskload_ps(rows[r] + j + 8, m1));
      }
    }
  }
}

LS_AVX2_INLINE float Reduce8(__m256 v) {
  const __m128 g = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 x = _mm_add_ps(g, _mm_permute_ps(g, 0x4E));
  const __m128 y = _mm_add_ps(x, _mm_permute_ps(x, 0xB1));
  return _mm_cvtss_f32(y);
}

template <int kKind>
LS_AVX2 float PairAvx2(const float* a, const float* b, size_t dim) {
  __m256 acc[1][2];
  const float* rows[1] = {b};
  Accumulate<kKind, 1>(a, rows, dim, acc);
  return Reduce8(_mm256_add_ps(acc[0][0], acc[0][1]));
}

LS_AVX2 float L1Avx2(const float* a, const float* b, size_t dim) {
  return PairAvx2<kScoreL1>(a, b, dim);
}
LS_AVX2 float L2SqAvx2(const float* a, const float* b, size_t dim) {
  return PairAvx2<kScoreL2>(a, b, dim);
}
LS_AVX2 float DotAvx2(const float* a, const float* b, size_t dim) {
  return PairAvx2<kScoreNegDot>(a, b, dim);
}

template <int kKind>
LS_AVX2 void RowsAvx2(const float* query, const float* base, size_t dim, const uint32_t* slots,
                      size_t first, size_t m, float* out) {
  for (size_t i = 0; i < m; i += 4) {
    const float* rows[4];
    for (int r = 0; r < 4; ++r) {
      const size_t ii = i + r < m ? i + r : m - 1;
      const size_t row = slots != nullptr ? slots[ii] : first + ii;
      rows[r] = base + row * dim;
    }
    __m256 acc[4][2];
    Accumulate<kKind, 4>(query, rows, dim, acc);
    const size_t take = m - i < 4 ? m - i : 4;
    for (size_t r = 0; r < take; ++r) {
      const float s = Reduce8(_mm256_add_ps(acc[r][0], acc[r][1]));
      out[i + r] = kKind == kScoreNegDot ? -s : s;
    }
  }
}

// MQ queries × 16 panel rows starting at column c0.
template <int kKind, int MQ>
LS_AVX2_INLINE void LaneBlock(const float* queries, const float* panel, size_t dim,
                              const float* aux, const float* tau, float* out, uint64_t* masks,
                              size_t c0) {
  __m256 acc[MQ][2];
  for (int qi = 0; qi < MQ; ++qi) acc[qi][0] = acc[qi][1] = _mm256_setzero_ps();
  const float* p = panel + c0;
  for (size_t j = 0; j < dim; ++j, p += kPanelRows) {
    const __m256 b0 = _mm256_loadu_ps(p);
    const __m256 b1 = _mm256_loadu_ps(p + 8);
    for (int qi = 0; qi < MQ; ++qi) {
      const __m256 qv = _mm256_broadcast_ss(queries + qi * dim + j);
      if constexpr (kKind == kScoreL1) {
        acc[qi][0] = _mm256_add_ps(acc[qi][0], _mm256_min_ps(b0, qv));
        acc[qi][1] = _mm256_add_ps(acc[qi][1], _mm256_min_ps(b1, qv));
      } else {
        acc[qi][0] = _mm256_fmadd_ps(qv, b0, acc[qi][0]);
        acc[qi][1] = _mm256_fmadd_ps(qv, b1, acc[qi][1]);
      }
    }
  }
  const __m256 minus_two = _mm256_set1_ps(-2.0f);
  for (int qi = 0; qi < MQ; ++qi) {
    float* o = out + qi * kPanelRows + c0;
    const __m256 t = _mm256_set1_ps(tau[qi]);
    uint64_t mask = 0;
    for (int v = 0; v < 2; ++v) {
      __m256 r = acc[qi][v];
      if constexpr (kKind == kScoreNegDot) {
        r = _mm256_sub_ps(_mm256_setzero_ps(), r);
      } else {
        r = _mm256_fmadd_ps(minus_two, r, _mm256_loadu_ps(aux + c0 + 8 * v));
      }
      _mm256_storeu_ps(o + 8 * v, r);
      const uint64_t bits =
          static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(r, t, _CMP_LE_OQ)));
      mask |= bits << (c0 + 8 * v);
    }
    masks[qi] |= mask;
  }
}

template <int kKind, int MQ>
LS_AVX2 void LaneTile(const float* queries, const float* panel, size_t dim, const float* aux,
                      const float* tau, float* out, uint64_t* masks) {
  for (int qi = 0; qi < MQ; ++qi) masks[qi] = 0;
  for (size_t c0 = 0; c0 < kPanelRows; c0 += 16) {
    LaneBlock<kKind, MQ>(queries, panel, dim, aux, tau, out, masks, c0);
  }
}

template <int kKind>
LS_AVX2 void LaneAvx2(const float* queries, int mq, const float* panel, size_t dim,
                      const float* aux, const float* tau, float* out, uint64_t* masks) {
  // At most 4 queries per pass (8 accumulators + operands fit 16 ymm).
  while (mq > 0) {
    const int now = mq >= 4 ? 4 : mq;
    switch (now) {
      case 1:
        LaneTile<kKind, 1>(queries, panel, dim, aux, tau, out, masks);
        break;
      case 2:
        LaneTile<kKind, 2>(queries, panel, dim, aux, tau, out, masks);
        break;
      case 3:
        LaneTile<kKind, 3>(queries, panel, dim, aux, tau, out, masks);
        break;
      default:
        LaneTile<kKind, 4>(queries, panel, dim, aux, tau, out, masks);
        break;
    }
    queries += now * dim;
    tau += now;
    out += now * kPanelRows;
    masks += now;
    mq -= now;
  }
}

LS_AVX2 size_t SelectLeAvx2(const float* scores, size_t m, float tau, uint32_t* idx) {
  const __m256 t = _mm256_set1_ps(tau);
  size_t n = 0;
  size_t i = 0;
  for (; i + 8 <= m; i += 8) {
    uint32_t k = static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(scores + i), t, _CMP_LE_OQ)));
    while (k != 0) {
      idx[n++] = static_cast<uint32_t>(i + __builtin_ctz(k));
      k &= k - 1;
    }
  }
  for (; i < m; ++i) {
    if (scores[i] <= tau) idx[n++] = static_cast<uint32_t>(i);
  }
  return n;
}

}  // namespace

const KernelTable kAvx2Kernels = {
    Isa::kAvx2,
    "avx2",
    &L1Avx2,
    &L2SqAvx2,
    &DotAvx2,
    {&RowsAvx2<kScoreL1>, &RowsAvx2<kScoreL2>, &RowsAvx2<kScoreNegDot>},
    {&LaneAvx2<kScoreL1>, &LaneAvx2<kScoreL2>, &LaneAvx2<kScoreNegDot>},
    &SelectLeAvx2,
    &PackPanel,
};

}  // namespace latentsearch::index::internal

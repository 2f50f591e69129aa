// AVX-512F kernels. Every function carries the target attribute; nothing
// here runs unless KernelsFor() found avx512f on the CPU.
//
// Canonical pair score: 16-float chunks (the last one masked, zero-filled),
// chunk c accumulated into acc[c % 2], then s = acc0 + acc1 reduced with a
// fixed tree: 128-bit quarters (q0+q2) + (q1+q3), then within the 4 lanes
// (l0+l2) + (l1+l3). The 4-row reduction below computes the same tree for
// each row, so row and pair kernels agree bit for bit.
// GCC 12's AVX-512 intrinsics initialise their pass-through operand with
// _mm512_undefined_ps(), which -Wuninitialized misreports (GCC PR 105593,
// fixed in 12.3); the pragma must precede the header to reach those lines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "common/index/kernels.h"

#define LS_AVX512 __attribute__((target("avx512f")))
#define LS_AVX512_INLINE __attribute__((target("avx512f"), always_inline)) inline

namespace latentsearch::index::internal {
namespace {

LS_AVX512_INLINE __mmask16 TailMask(size_t rem) {
  return rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1);
}

template <int kKind>
LS_AVX512_INLINE __m512 Step(__m512 acc, __m512 q, __m512 b) {
  if constexpr (kKind == kScoreL1) {
    return _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(q, b)));
  } else if constexpr (kKind == kScoreL2) {
    const __m512 d = _mm512_sub_ps(q, b);
    return _mm512_fmadd_ps(d, d, acc);
  } else {
    return _mm512_fmadd_ps(q, b, acc);
  }
}

// acc[r][0..1] for R rows against one query (see the file comment).
template <int kKind, int R>
LS_AVX512_INLINE void Accumulate(const float* q, const float* const* rows, size_t dim,
                                 __m512 (&acc)[R][2]) {
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= dim; j += 32) {
    const __m512 q0 = _mm512_loadu_ps(q + j);
    const __m512 q1 = _mm512_loadu_ps(q + j + 16);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = Step<kKind>(acc[r][0], q0, _mm512_loadu_ps(rows[r] + j));
      acc[r][1] = Step<kKind>(acc[r][1], q1, _mm512_loadu_ps(rows[r] + j + 16));
    }
  }
  if (j < dim) {
    // Chunk 2t (and 2t + 1 when it exists); a missing chunk contributes
    // exact zeros, which leave the accumulator unchanged.
    const __mmask16 m0 = TailMask(dim - j);
    const __mmask16 m1 = dim - j > 16 ? TailMask(dim - j - 16) : 0;
    const __m512 q0 = _mm512_maskz_loadu_ps(m0, q + j);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = Step<kKind>(acc[r][0], q0, _mm512_maskz_loadu_ps(m0, rows[r] + j));
    }
    if (m1 != 0) {
      const __m512 q1 = _mm512_maskz_loadu_ps(m1, q + j + 16);
      for (int r = 0; r < R; ++r) {
        acc[r][1] = Step<kKind>(acc[r][1], q1, _mm512_maskz_loadu_ps(m1, rows[r] + j + 16));
      }
    }
  }
}

LS_AVX512_INLINE float Reduce16(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  const __m256 h = _mm256_add_ps(lo, hi);  // [q0+q2, q1+q3]
  const __m128 g = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 x = _mm_add_ps(g, _mm_permute_ps(g, 0x4E));
  const __m128 y = _mm_add_ps(x, _mm_permute_ps(x, 0xB1));
  return _mm_cvtss_f32(y);
}

// The same tree as Reduce16 for four rows at once: lane r = row r.
LS_AVX512_INLINE __m128 Reduce16x4(__m512 s0, __m512 s1, __m512 s2, __m512 s3) {
  const __m512 t0 =
      _mm512_add_ps(_mm512_shuffle_f32x4(s0, s1, 0x44), _mm512_shuffle_f32x4(s0, s1, 0xEE));
  const __m512 t1 =
      _mm512_add_ps(_mm512_shuffle_f32x4(s2, s3, 0x44), _mm512_shuffle_f32x4(s2, s3, 0xEE));
  const __m512 u =
      _mm512_add_ps(_mm512_shuffle_f32x4(t0, t1, 0x88), _mm512_shuffle_f32x4(t0, t1, 0xDD));
  const __m512 x = _mm512_add_ps(u, _mm512_permute_ps(u, 0x4E));
  const __m512 y = _mm512_add_ps(x, _mm512_permute_ps(x, 0xB1));
  // Elements 0, 4, 8, 12 (kept in registers: a compress-store to memory
  // read back as scalars would defeat store forwarding).
  const __m512i pick = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, y));
}

template <int kKind>
LS_AVX512 float PairAvx512(const float* a, const float* b, size_t dim) {
  __m512 acc[1][2];
  const float* rows[1] = {b};
  Accumulate<kKind, 1>(a, rows, dim, acc);
  return Reduce16(_mm512_add_ps(acc[0][0], acc[0][1]));
}

LS_AVX512 float L1Avx512(const float* a, const float* b, size_t dim) {
  return PairAvx512<kScoreL1>(a, b, dim);
}
LS_AVX512 float L2SqAvx512(const float* a, const float* b, size_t dim) {
  return PairAvx512<kScoreL2>(a, b, dim);
}
LS_AVX512 float DotAvx512(const float* a, const float* b, size_t dim) {
  return PairAvx512<kScoreNegDot>(a, b, dim);
}

template <int kKind>
LS_AVX512 void RowsAvx512(const float* query, const float* base, size_t dim, const uint32_t* slots,
                          size_t first, size_t m, float* out) {
  for (size_t i = 0; i < m; i += 4) {
    const float* rows[4];
    for (int r = 0; r < 4; ++r) {
      // Missing rows of the last group repeat its last row (outputs dropped).
      const size_t ii = i + r < m ? i + r : m - 1;
      const size_t row = slots != nullptr ? slots[ii] : first + ii;
      rows[r] = base + row * dim;
    }
    if (i + 8 < m) {
      for (int r = 0; r < 4; ++r) {
        const size_t ii = i + 4 + r;
        const size_t row = slots != nullptr ? slots[ii] : first + ii;
        _mm_prefetch(reinterpret_cast<const char*>(base + row * dim), _MM_HINT_T0);
      }
    }
    __m512 acc[4][2];
    Accumulate<kKind, 4>(query, rows, dim, acc);
    __m128 s = Reduce16x4(_mm512_add_ps(acc[0][0], acc[0][1]), _mm512_add_ps(acc[1][0], acc[1][1]),
                          _mm512_add_ps(acc[2][0], acc[2][1]), _mm512_add_ps(acc[3][0], acc[3][1]));
    if constexpr (kKind == kScoreNegDot) s = _mm_sub_ps(_mm_setzero_ps(), s);
    if (i + 4 <= m) {
      _mm_storeu_ps(out + i, s);
    } else {
      alignas(16) float tail[4];
      _mm_store_ps(tail, s);
      for (size_t r = 0; r < m - i; ++r) out[i + r] = tail[r];
    }
  }
}

// MQ queries × (NV × 16) panel rows starting at column c0.
template <int kKind, int MQ, int NV>
LS_AVX512_INLINE void LaneBlock(const float* queries, const float* panel, size_t dim,
                                const float* aux, const float* tau, float* out, uint64_t* masks,
                                size_t c0) {
  __m512 acc[MQ][NV];
  for (int qi = 0; qi < MQ; ++qi) {
    for (int v = 0; v < NV; ++v) acc[qi][v] = _mm512_setzero_ps();
  }
  const float* q[MQ];
  for (int qi = 0; qi < MQ; ++qi) q[qi] = queries + qi * dim;
  const float* p = panel + c0;
  for (size_t j = 0; j < dim; ++j, p += kPanelRows) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(p + 16 * v);
    for (int qi = 0; qi < MQ; ++qi) {
      const __m512 qv = _mm512_set1_ps(q[qi][j]);
      for (int v = 0; v < NV; ++v) {
        if constexpr (kKind == kScoreL1) {
          acc[qi][v] = _mm512_add_ps(acc[qi][v], _mm512_min_ps(b[v], qv));
        } else {
          acc[qi][v] = _mm512_fmadd_ps(qv, b[v], acc[qi][v]);
        }
      }
    }
  }
  const __m512 minus_two = _mm512_set1_ps(-2.0f);
  for (int qi = 0; qi < MQ; ++qi) {
    float* o = out + qi * kPanelRows + c0;
    const __m512 t = _mm512_set1_ps(tau[qi]);
    uint64_t mask = 0;
    for (int v = 0; v < NV; ++v) {
      __m512 r = acc[qi][v];
      if constexpr (kKind == kScoreNegDot) {
        r = _mm512_sub_ps(_mm512_setzero_ps(), r);
      } else {
        r = _mm512_fmadd_ps(minus_two, r, _mm512_loadu_ps(aux + c0 + 16 * v));
      }
      _mm512_storeu_ps(o + 16 * v, r);
      mask |= static_cast<uint64_t>(_mm512_cmp_ps_mask(r, t, _CMP_LE_OQ)) << (c0 + 16 * v);
    }
    masks[qi] |= mask;
  }
}

template <int kKind, int MQ>
LS_AVX512 void LaneTile(const float* queries, const float* panel, size_t dim, const float* aux,
                        const float* tau, float* out, uint64_t* masks) {
  for (int qi = 0; qi < MQ; ++qi) masks[qi] = 0;
  LaneBlock<kKind, MQ, 4>(queries, panel, dim, aux, tau, out, masks, 0);
}

template <int kKind>
LS_AVX512 void LaneAvx512(const float* queries, int mq, const float* panel, size_t dim,
                          const float* aux, const float* tau, float* out, uint64_t* masks) {
  switch (mq) {
    case 1:
      return LaneTile<kKind, 1>(queries, panel, dim, aux, tau, out, masks);
    case 2:
      return LaneTile<kKind, 2>(queries, panel, dim, aux, tau, out, masks);
    case 3:
      return LaneTile<kKind, 3>(queries, panel, dim, aux, tau, out, masks);
    case 4:
      return LaneTile<kKind, 4>(queries, panel, dim, aux, tau, out, masks);
    case 5:
      return LaneTile<kKind, 5>(queries, panel, dim, aux, tau, out, masks);
    default:
      return LaneTile<kKind, 6>(queries, panel, dim, aux, tau, out, masks);
  }
}

LS_AVX512 size_t SelectLeAvx512(const float* scores, size_t m, float tau, uint32_t* idx) {
  const __m512 t = _mm512_set1_ps(tau);
  size_t n = 0;
  for (size_t i = 0; i < m; i += 16) {
    const __mmask16 lm = TailMask(m - i);
    const __m512 v = _mm512_maskz_loadu_ps(lm, scores + i);
    uint32_t k = _mm512_mask_cmp_ps_mask(lm, v, t, _CMP_LE_OQ);
    while (k != 0) {
      idx[n++] = static_cast<uint32_t>(i + __builtin_ctz(k));
      k &= k - 1;
    }
  }
  return n;
}

// In-register transpose: r[c] becomes column c (lane i = old row i).
LS_AVX512_INLINE void Transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xDD);
    }
  }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
  }
}

// PackPanel by 16 x 16 in-register transposes: 16 loads, 64 shuffles and
// 16 sequential stores per 256 floats, aux sums on the transposed columns.
LS_AVX512 float PackAvx512(const float* base, size_t dim, const uint32_t* slots, size_t first,
                           size_t m, int kind, float* panel, float* aux) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 max_magnitude = zero;
  const size_t padded = (m + kPanelRows - 1) / kPanelRows * kPanelRows;
  for (size_t g0 = 0; g0 < padded; g0 += 16) {
    float* dst = panel + (g0 / kPanelRows) * dim * kPanelRows + g0 % kPanelRows;
    const size_t rows = g0 < m ? (m - g0 < 16 ? m - g0 : 16) : 0;
    if (rows == 0) {
      for (size_t j = 0; j < dim; ++j) _mm512_storeu_ps(dst + j * kPanelRows, zero);
      _mm512_storeu_ps(aux + g0, zero);
      continue;
    }
    const float* src[16];
    for (size_t i = 0; i < rows; ++i) {
      const size_t row = slots != nullptr ? slots[g0 + i] : first + g0 + i;
      src[i] = base + row * dim;
    }
    __m512 sum = zero, magnitude = zero;
    for (size_t j0 = 0; j0 < dim; j0 += 16) {
      const __mmask16 mask = TailMask(dim - j0);
      __m512 v[16];
      for (size_t i = 0; i < 16; ++i) {
        v[i] = i < rows ? _mm512_maskz_loadu_ps(mask, src[i] + j0) : zero;
      }
      Transpose16(v);
      const size_t cols = dim - j0 < 16 ? dim - j0 : 16;
      for (size_t c = 0; c < cols; ++c) {
        _mm512_storeu_ps(dst + (j0 + c) * kPanelRows, v[c]);
        if (kind == kScoreL1) {
          sum = _mm512_add_ps(sum, v[c]);
          magnitude = _mm512_add_ps(magnitude, _mm512_abs_ps(v[c]));
        } else {
          sum = _mm512_fmadd_ps(v[c], v[c], sum);
        }
      }
    }
    _mm512_storeu_ps(aux + g0, sum);
    max_magnitude = _mm512_max_ps(max_magnitude, kind == kScoreL1 ? magnitude : sum);
  }
  return _mm512_reduce_max_ps(max_magnitude);
}

}  // namespace

const KernelTable kAvx512Kernels = {
    Isa::kAvx512,
    "avx512",
    &L1Avx512,
    &L2SqAvx512,
    &DotAvx512,
    {&RowsAvx512<kScoreL1>, &RowsAvx512<kScoreL2>, &RowsAvx512<kScoreNegDot>},
    {&LaneAvx512<kScoreL1>, &LaneAvx512<kScoreL2>, &LaneAvx512<kScoreNegDot>},
    &SelectLeAvx512,
    &PackAvx512,
};

}  // namespace latentsearch::index::internal

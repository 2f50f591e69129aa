// AVX-512 row kernels of PhaseMax4 (phase_max_avx512.h). Every function
// carries the target attribute; nothing here runs unless
// PhaseMaxAvx512Available() found the extensions on the CPU.
// GCC 12's AVX-512 intrinsics initialise their pass-through operand with
// an undefined value, which -Wuninitialized misreports (GCC PR 105593,
// fixed in 12.3); the pragma must precede the header to reach those lines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "common/model/phase_max_avx512.h"

#include <immintrin.h>

#define LS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define LS_AVX512_INLINE __attribute__((target("avx512f,avx512bw,avx512vl"), always_inline)) inline

namespace latentsearch::model::internal {
namespace {

LS_AVX512_INLINE __mmask16 TailMask(int64_t rem) {
  return rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1);
}

// Phase p's 16 channels against the running maximum: taken only where
// strictly greater (the scalar loop's `v > m`, false for NaN either side).
LS_AVX512_INLINE void MaxStep(const float* yp, __mmask16 tail, char p, __m512& m, __m128i& a) {
  const __m512 v = _mm512_maskz_loadu_ps(tail, yp);
  const __mmask16 gt = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ);
  m = _mm512_mask_mov_ps(m, gt, v);
  a = _mm_mask_mov_epi8(a, gt, _mm_set1_epi8(p));
}

}  // namespace

bool PhaseMaxAvx512Available() {
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
  }();
  return available;
}

LS_AVX512 void PhaseMax4RowAvx512(const float* const y[4], const int64_t step[4], int64_t w,
                                  int64_t c, float* out, uint8_t* arg) {
  for (int64_t i = 0; i < w; ++i) {
    const float* y0 = y[0] + i * step[0];
    const float* y1 = y[1] + i * step[1];
    const float* y2 = y[2] + i * step[2];
    const float* y3 = y[3] + i * step[3];
    float* op = out + i * c;
    uint8_t* ap = arg + i * c;
    for (int64_t ch = 0; ch < c; ch += 16) {
      const __mmask16 tail = TailMask(c - ch);
      __m512 m = _mm512_maskz_loadu_ps(tail, y0 + ch);
      __m128i a = _mm_setzero_si128();
      MaxStep(y1 + ch, tail, 1, m, a);
      MaxStep(y2 + ch, tail, 2, m, a);
      MaxStep(y3 + ch, tail, 3, m, a);
      _mm512_mask_storeu_ps(op + ch, tail, m);
      _mm_mask_storeu_epi8(ap + ch, tail, a);
    }
  }
}

LS_AVX512 void PhaseMax4GradRowAvx512(const float* g, const uint8_t* arg, int64_t w, int64_t c,
                                      float* const gy[4], const int64_t step[4],
                                      const int64_t width[4]) {
  for (int64_t i = 0; i < w; ++i) {
    const float* gp = g + i * c;
    const uint8_t* ap = arg + i * c;
    float* d0 = gy[0] + i * step[0];
    float* d1 = gy[1] + i * step[1];
    float* d2 = gy[2] + i * step[2];
    float* d3 = gy[3] + i * step[3];
    for (int64_t ch = 0; ch < c; ch += 16) {
      const __mmask16 tail = TailMask(c - ch);
      const __m128i a = _mm_maskz_loadu_epi8(tail, ap + ch);
      const __m512 v = _mm512_maskz_loadu_ps(tail, gp + ch);
      // maskz writes +0 where the phase is not the argmax.
      _mm512_mask_storeu_ps(d0 + ch, tail,
                            _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(a, _mm_set1_epi8(0)), v));
      _mm512_mask_storeu_ps(d1 + ch, tail,
                            _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(a, _mm_set1_epi8(1)), v));
      _mm512_mask_storeu_ps(d2 + ch, tail,
                            _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(a, _mm_set1_epi8(2)), v));
      _mm512_mask_storeu_ps(d3 + ch, tail,
                            _mm512_maskz_mov_ps(_mm_cmpeq_epi8_mask(a, _mm_set1_epi8(3)), v));
    }
  }
  const __m512 zero = _mm512_setzero_ps();
  for (int p = 0; p < 4; ++p) {
    for (int64_t i = w; i < width[p]; ++i) {
      float* d = gy[p] + i * step[p];
      for (int64_t ch = 0; ch < c; ch += 16) _mm512_mask_storeu_ps(d + ch, TailMask(c - ch), zero);
    }
  }
}

}  // namespace latentsearch::model::internal

// AVX-512 row kernels of PhaseMax4 and PhaseMax (same_conv_transpose.cc)
// for float32 channels-last tensors: the seed model's fused
// transposed-convolution + max-pool reads four phase maps and its backward
// writes four gradient maps, a memory-bound pass that the portable build
// compiles to scalar code. PhaseMax's phase-major map is the same "row" with
// phase p at channel offset p·c and pixels 4c apart. Plain
// C++ (no LibTorch); the functions carry target attributes and may only be
// called when PhaseMaxAvx512Available() is true.
//
// Results are bit-identical to the scalar loops they replace: the maximum
// takes a later phase only when it is strictly greater (a NaN in phase 0
// stays, a NaN in a later phase is skipped), the gradient goes to the argmax
// phase and every other element is +0.
//
// Thread-safety: pure functions over caller-owned buffers; calls on disjoint
// rows may run concurrently.
#ifndef LATENTSEARCH_COMMON_MODEL_PHASE_MAX_AVX512_H_
#define LATENTSEARCH_COMMON_MODEL_PHASE_MAX_AVX512_H_

#include <cstdint>

namespace latentsearch::model::internal {

// True when the CPU has avx512f, avx512bw and avx512vl (checked once).
bool PhaseMaxAvx512Available();

// One output row of `w` pixels of `c` channels. y[p] points at the row's
// first pixel in phase p, whose pixels are step[p] floats apart (channels
// contiguous). out: w × c floats, arg: w × c phase indices (0-3).
void PhaseMax4RowAvx512(const float* const y[4], const int64_t step[4], int64_t w, int64_t c,
                        float* out, uint8_t* arg);

// The backward of one row: g and arg are w × c (as out/arg above); gy[p]
// points at the row's first pixel in phase p's gradient, pixels step[p]
// floats apart. Writes width[p] ≥ w pixels of phase p: pixel i < w gets g
// where arg == p and +0 elsewhere, pixels w .. width[p]-1 get +0 (the extra
// column a phase convolution computes and PhaseMax4 does not read).
void PhaseMax4GradRowAvx512(const float* g, const uint8_t* arg, int64_t w, int64_t c,
                            float* const gy[4], const int64_t step[4], const int64_t width[4]);

}  // namespace latentsearch::model::internal

#endif  // LATENTSEARCH_COMMON_MODEL_PHASE_MAX_AVX512_H_

// Seeded synthetic vectors for the index tests and benchmarks.
//   Random:    uniform in [-1, 1]^dim.
//   Clustered: "CIFAR-10-like": 10 classes, each a mixture of 10 Gaussian
//              modes around the class centre, with per-class spread, so
//              neighbourhoods are dense, uneven and overlapping.
#ifndef LATENTSEARCH_TESTS_UNIT_INDEX_SYNTHETIC_H_
#define LATENTSEARCH_TESTS_UNIT_INDEX_SYNTHETIC_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace latentsearch::index::testing {

inline std::vector<float> RandomVectors(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (float& x : v) x = u(rng);
  return v;
}

// The mixture is fixed by `mixture_seed`; the samples by `seed` (queries use
// the same mixture with another seed).
inline std::vector<float> ClusteredVectors(size_t n, size_t dim, uint32_t seed,
                                           uint32_t mixture_seed = 1234) {
  constexpr int kClasses = 10, kModes = 10;
  std::mt19937 mix(mixture_seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> modes(static_cast<size_t>(kClasses * kModes) * dim);
  std::vector<float> spread(kClasses * kModes);
  for (int c = 0; c < kClasses; ++c) {
    std::vector<float> centre(dim);
    for (float& x : centre) x = 2.0f * normal(mix);
    for (int m = 0; m < kModes; ++m) {
      float* mode = modes.data() + static_cast<size_t>(c * kModes + m) * dim;
      for (size_t j = 0; j < dim; ++j) mode[j] = centre[j] + 0.7f * normal(mix);
      spread[c * kModes + m] = 0.25f + 0.1f * static_cast<float>(c % 4);
    }
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pick(0, kClasses * kModes - 1);
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const int m = pick(rng);
    const float* mode = modes.data() + static_cast<size_t>(m) * dim;
    for (size_t j = 0; j < dim; ++j) v[i * dim + j] = mode[j] + spread[m] * normal(rng);
  }
  return v;
}

}  // namespace latentsearch::index::testing

#endif  // LATENTSEARCH_TESTS_UNIT_INDEX_SYNTHETIC_H_

// Small on-disk data sets for trainer tests.
#ifndef LATENTSEARCH_TESTS_UNIT_TRAINER_TEST_DATA_H_
#define LATENTSEARCH_TESTS_UNIT_TRAINER_TEST_DATA_H_

#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

namespace latentsearch::trainer::testing {

inline void PutBe32(std::ofstream& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out.write(b, 4);
}

// Writes train-images-idx3-ubyte / train-labels-idx1-ubyte with n images of
// size × size: a bright disc of random centre and radius on a dark ground.
inline void WriteBlobIdx(const std::string& dir, uint32_t n, uint32_t size = 16,
                         uint64_t seed = 1) {
  std::ofstream images(dir + "/train-images-idx3-ubyte", std::ios::binary);
  std::ofstream labels(dir + "/train-labels-idx1-ubyte", std::ios::binary);
  PutBe32(images, 0x00000803);
  PutBe32(images, n);
  PutBe32(images, size);
  PutBe32(images, size);
  PutBe32(labels, 0x00000801);
  PutBe32(labels, n);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (uint32_t i = 0; i < n; ++i) {
    const double cy = u(rng) * size, cx = u(rng) * size, r = 2 + u(rng) * size / 3.0;
    for (uint32_t y = 0; y < size; ++y) {
      for (uint32_t x = 0; x < size; ++x) {
        images.put(static_cast<char>(std::hypot(y - cy, x - cx) < r ? 220 : 20));
      }
    }
    labels.put(static_cast<char>(i % 10));
  }
}

}  // namespace latentsearch::trainer::testing

#endif  // LATENTSEARCH_TESTS_UNIT_TRAINER_TEST_DATA_H_

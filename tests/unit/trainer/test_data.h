// Small data sets for trainer tests: in memory (DiscsDataset) and on disk
// (WriteBlobIdx).
#ifndef LATENTSEARCH_TESTS_UNIT_TRAINER_TEST_DATA_H_
#define LATENTSEARCH_TESTS_UNIT_TRAINER_TEST_DATA_H_

#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include "common/data/dataset.h"

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

// n images of 16 × 16 × 1, two classes: a disc of random centre and radius
// at level `on` on a ground at level `off`, seeded.
inline data::Dataset DiscsDataset(size_t n, uint64_t seed, uint8_t on = 210, uint8_t off = 25) {
  data::Dataset d;
  d.source = "discs";
  d.height = d.width = 16;
  d.channels = 1;
  d.class_names = {"a", "b"};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (size_t i = 0; i < n; ++i) {
    const double cy = u(rng) * 16, cx = u(rng) * 16, r = 2 + u(rng) * 5;
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) {
        d.pixels.push_back(std::hypot(y - cy, x - cx) < r ? on : off);
      }
    }
    d.labels.push_back(static_cast<int32_t>(i % 2));
  }
  return d;
}

}  // namespace latentsearch::trainer::testing

#endif  // LATENTSEARCH_TESTS_UNIT_TRAINER_TEST_DATA_H_

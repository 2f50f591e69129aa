// Seeded clustered vectors (bench_data.h).
// Thread-safety: const methods only after construction.
#include "tests/bench/cluster/bench_data.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"

namespace latentsearch::bench {

Dataset::Dataset(uint64_t n, uint32_t dim, uint32_t clusters, uint64_t seed)
    : n_(n), dim_(dim), seed_(seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  centres_.resize(size_t{std::max<uint32_t>(clusters, 1)} * dim);
  for (float& c : centres_) c = clusters == 0 ? 0.f : g(rng) * 3.f;
}

std::vector<float> Dataset::Draw(uint64_t count, uint64_t stream_seed) const {
  std::mt19937_64 rng(stream_seed);
  std::normal_distribution<float> g(0.f, 1.f);
  const uint64_t clusters = centres_.size() / dim_;
  std::vector<float> out(count * dim_);
  for (uint64_t i = 0; i < count; ++i) {
    const float* centre = &centres_[(rng() % clusters) * dim_];
    for (uint32_t d = 0; d < dim_; ++d) out[i * dim_ + d] = centre[d] + g(rng);
  }
  return out;
}

std::vector<float> Dataset::Batch(uint64_t b) const {
  const uint64_t first = b * kBatch;
  const uint64_t count = first >= n_ ? 0 : std::min(kBatch, n_ - first);
  // A stream per batch: batch b is the same whatever was drawn before.
  return Draw(count, seed_ * 0x9E3779B97F4A7C15ull + b + 1);
}

std::vector<float> Dataset::Queries(uint32_t count) const {
  return Draw(count, ~seed_ * 0xC2B2AE3D27D4EB4Full);
}

std::string ItemId(uint64_t i) { return absl::StrCat("v", i); }

}  // namespace latentsearch::bench

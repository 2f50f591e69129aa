// Seeded rows for the scale benchmark (scale_data.h).
// Thread-safety: pure.
#include "tests/bench/scale/scale_data.h"

#include <cmath>
#include <random>

#include "tests/bench/cluster/bench_data.h"

namespace latentsearch::bench {
namespace {

// Rows of `latent` (count x latent_dim) mapped through `w` (dim x
// latent_dim) plus noise from `rng`.
std::vector<float> Project(const std::vector<float>& latent, const std::vector<float>& w,
                           const DataShape& s, std::mt19937_64* rng) {
  std::normal_distribution<float> g(0.f, 1.f);
  const size_t count = latent.size() / s.latent_dim;
  std::vector<float> out(count * s.dim);
  for (size_t i = 0; i < count; ++i) {
    const float* z = &latent[i * s.latent_dim];
    for (uint32_t d = 0; d < s.dim; ++d) {
      const float* row = &w[size_t{d} * s.latent_dim];
      float x = 0;
      for (uint32_t l = 0; l < s.latent_dim; ++l) x += row[l] * z[l];
      out[i * s.dim + d] = x + s.noise * g(*rng);
    }
  }
  return out;
}

Rows Gaussian(const DataShape& s, uint64_t n, uint64_t tail, uint32_t nq) {
  Rows r;
  const Dataset ds(n + tail, s.dim, s.clusters, s.seed);
  r.base.reserve(n * s.dim);
  for (uint64_t b = 0; b < ds.num_batches(); ++b) {
    const std::vector<float> rows = ds.Batch(b);
    std::vector<float>& to = b * Dataset::kBatch < n ? r.base : r.tail;
    to.insert(to.end(), rows.begin(), rows.end());
  }
  r.queries = ds.Queries(nq);
  return r;
}

Rows LowRank(const DataShape& s, uint64_t n, uint64_t tail, uint32_t nq) {
  Rows r;
  const Dataset ds(n + tail, s.latent_dim, s.clusters, s.seed);
  std::mt19937_64 wrng(s.seed ^ 0x5DEECE66Dull);
  std::normal_distribution<float> g(0.f, 1.f / std::sqrt(static_cast<float>(s.latent_dim)));
  std::vector<float> w(size_t{s.dim} * s.latent_dim);
  for (float& x : w) x = g(wrng);
  r.base.reserve(n * s.dim);
  for (uint64_t b = 0; b < ds.num_batches(); ++b) {
    std::mt19937_64 noise(s.seed * 0xD1B54A32D192ED03ull + b + 1);
    const std::vector<float> rows = Project(ds.Batch(b), w, s, &noise);
    std::vector<float>& to = b * Dataset::kBatch < n ? r.base : r.tail;
    to.insert(to.end(), rows.begin(), rows.end());
  }
  std::mt19937_64 qnoise(~s.seed * 0x9E3779B97F4A7C15ull);
  r.queries = Project(ds.Queries(nq), w, s, &qnoise);
  return r;
}

}  // namespace

Rows MakeRows(const DataShape& shape, uint64_t n, uint64_t tail, uint32_t nq) {
  return shape.kind == "lowrank" ? LowRank(shape, n, tail, nq) : Gaussian(shape, n, tail, nq);
}

}  // namespace latentsearch::bench

// Seeded clustered vectors for the cluster benchmark: a Gaussian mixture
// (centres N(0, 3^2) per coordinate, points N(centre, 1), as `latentsearch
// bench --clusters`), generated in batches that do not depend on each other,
// so every configuration receives exactly the same items without the
// benchmark holding 1,000,000 x 128 floats at once. Item i has id "v<i>".
// Thread-safety: a Dataset is immutable after construction; Batch() and
// Queries() may be called from any thread.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_BENCH_DATA_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_BENCH_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

namespace latentsearch::bench {

class Dataset {
 public:
  static constexpr uint64_t kBatch = 1000;

  Dataset(uint64_t n, uint32_t dim, uint32_t clusters, uint64_t seed);

  uint64_t n() const { return n_; }
  uint32_t dim() const { return dim_; }
  uint64_t num_batches() const { return (n_ + kBatch - 1) / kBatch; }
  // Items [b * kBatch, min(n, (b + 1) * kBatch)) as rows of dim floats.
  std::vector<float> Batch(uint64_t b) const;
  // `count` query vectors (count x dim) from the same mixture, another seed.
  std::vector<float> Queries(uint32_t count) const;

 private:
  std::vector<float> Draw(uint64_t count, uint64_t stream_seed) const;

  uint64_t n_;
  uint32_t dim_;
  uint64_t seed_;
  std::vector<float> centres_;  // clusters x dim
};

std::string ItemId(uint64_t i);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_BENCH_DATA_H_

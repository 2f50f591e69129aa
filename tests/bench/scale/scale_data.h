// The rows of the scale benchmark, seeded, in one of two shapes:
//   gaussian  the cluster benchmark's mixture (tests/bench/cluster/bench_data.h:
//             centres N(0, 3^2), points N(centre, 1) in every one of the dim
//             coordinates), isotropic: its neighbourhoods have the full
//             dimension, which is hard for any HNSW graph;
//   lowrank   embedding-like: the same mixture drawn in `latent_dim`
//             coordinates, mapped to dim by one fixed random matrix
//             (entries N(0, 1/latent_dim)), plus N(0, noise^2) in every
//             coordinate, so the rows lie near a latent_dim-dimensional
//             subspace, as trained embeddings do.
// Rows are drawn per batch of Dataset::kBatch from a stream of their own, so
// a smaller size is a prefix of a larger one.
// Thread-safety: pure function.
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_SCALE_DATA_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_SCALE_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

namespace latentsearch::bench {

struct DataShape {
  std::string kind = "gaussian";  // or "lowrank"
  uint32_t dim = 128;
  uint32_t clusters = 10;
  uint64_t seed = 1;
  uint32_t latent_dim = 16;  // lowrank only
  float noise = 0.1f;        // lowrank only
};

struct Rows {
  std::vector<float> base;     // n x dim
  std::vector<float> tail;     // tail x dim, the rows after the first n
  std::vector<float> queries;  // nq x dim, another stream of the same mixture
};

// n and tail are multiples of 1,000.
Rows MakeRows(const DataShape& shape, uint64_t n, uint64_t tail, uint32_t nq);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_SCALE_DATA_H_

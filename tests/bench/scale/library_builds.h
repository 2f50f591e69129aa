// The reference HNSW builds of the scale benchmark, on the same rows as the
// node and with the node's parameters (M, ef_construction) and thread
// count: hnswlib 0.6.2's own spaces (L2, inner product on normalised rows
// for cosine; it has no L1), built as its examples do (the first point
// alone, then addPoint from `threads` threads), and FAISS's IndexHNSWFlat
// (L1, L2, inner product; OpenMP threads), when the benchmark was built with
// Debian's libfaiss-dev. Each also answers `queries` at ef_search so that
// the builds' quality can be compared with the node's.
// Thread-safety: functions may be called from one thread at a time (FAISS
// sets OpenMP's global thread count).
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_LIBRARY_BUILDS_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_LIBRARY_BUILDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "latentsearch/v1/common.pb.h"

namespace latentsearch::bench {

struct LibraryBuildArgs {
  v1::Metric metric = v1::METRIC_L2;
  const float* base = nullptr;  // n x dim; Normalized() for METRIC_COSINE
  uint64_t n = 0;
  uint32_t dim = 0;
  uint32_t m = 16;
  uint32_t ef_construction = 200;
  int threads = 1;
  const float* queries = nullptr;  // nq x dim; Normalized() for METRIC_COSINE
  uint32_t nq = 0;
  uint32_t k = 10;
  uint32_t ef_search = 128;
  const std::vector<std::vector<uint32_t>>* truth = nullptr;  // nq rows, closest first
};

struct LibraryBuild {
  double build_seconds = -1;
  double recall = -1;
  // Why there is no figure ("" when there is one).
  std::string missing;
};

LibraryBuild BuildWithHnswlib(const LibraryBuildArgs& args);
LibraryBuild BuildWithFaiss(const LibraryBuildArgs& args);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_LIBRARY_BUILDS_H_

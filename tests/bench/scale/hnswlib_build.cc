// hnswlib 0.6.2's own build for the scale benchmark (library_builds.h). The
// only file of the benchmark that includes hnswlib (it defines non-inline
// functions in its headers). Compiled with -mavx2 -mfma (CMakeLists.txt), so
// that hnswlib's compile-time SIMD choice takes its AVX distance kernels.
// Thread-safety: concurrent addPoint on one index is what hnswlib supports;
// searches run after the build.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <thread>

#include "hnswlib/hnswlib.h"
#include "tests/bench/scale/ground_truth.h"
#include "tests/bench/scale/library_builds.h"

namespace latentsearch::bench {

LibraryBuild BuildWithHnswlib(const LibraryBuildArgs& a) {
  LibraryBuild out;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space;
  if (a.metric == v1::METRIC_L2) {
    space = std::make_unique<hnswlib::L2Space>(a.dim);
  } else if (a.metric == v1::METRIC_COSINE) {
    space = std::make_unique<hnswlib::InnerProductSpace>(a.dim);
  } else {
    out.missing = "no L1 space in hnswlib";
    return out;
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    hnswlib::HierarchicalNSW<float> index(space.get(), a.n, a.m, a.ef_construction, 100);
    if (a.n > 0) index.addPoint(a.base, 0);
    std::atomic<uint64_t> next{1};
    auto work = [&] {
      for (uint64_t i = next++; i < a.n; i = next++) index.addPoint(a.base + i * a.dim, i);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < a.threads; ++t) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
    out.build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    index.setEf(a.ef_search);
    std::vector<std::vector<uint32_t>> got(a.nq);
    for (uint32_t q = 0; q < a.nq; ++q) {
      auto top = index.searchKnn(a.queries + size_t{q} * a.dim, a.k);
      got[q].resize(top.size());
      for (size_t i = top.size(); i-- > 0; top.pop()) {
        got[q][i] = static_cast<uint32_t>(top.top().second);
      }
    }
    out.recall = RecallAtK(got, *a.truth);
  } catch (const std::exception& e) {
    out.missing = std::string("hnswlib: ") + e.what();
  }
  return out;
}

}  // namespace latentsearch::bench

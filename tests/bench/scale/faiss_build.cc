// FAISS IndexHNSWFlat for the scale benchmark (library_builds.h); without
// LS_HAVE_FAISS (libfaiss-dev absent at configure time) it reports why
// there is no figure.
// Thread-safety: sets OpenMP's global thread count; one caller at a time.
#include <chrono>
#include <exception>
#include <vector>

#include "tests/bench/scale/ground_truth.h"
#include "tests/bench/scale/library_builds.h"

#ifdef LS_HAVE_FAISS
#include <faiss/IndexHNSW.h>
#include <omp.h>
#endif

namespace latentsearch::bench {

LibraryBuild BuildWithFaiss(const LibraryBuildArgs& a) {
  LibraryBuild out;
#ifdef LS_HAVE_FAISS
  using idx_t = faiss::Index::idx_t;
  const faiss::MetricType metric = a.metric == v1::METRIC_L1   ? faiss::METRIC_L1
                                   : a.metric == v1::METRIC_L2 ? faiss::METRIC_L2
                                                               : faiss::METRIC_INNER_PRODUCT;
  try {
    omp_set_num_threads(a.threads);
    faiss::IndexHNSWFlat index(static_cast<int>(a.dim), static_cast<int>(a.m), metric);
    index.hnsw.efConstruction = static_cast<int>(a.ef_construction);
    const auto start = std::chrono::steady_clock::now();
    index.add(static_cast<idx_t>(a.n), a.base);
    out.build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    index.hnsw.efSearch = static_cast<int>(a.ef_search);
    std::vector<float> dist(size_t{a.nq} * a.k);
    std::vector<idx_t> ids(size_t{a.nq} * a.k);
    index.search(static_cast<idx_t>(a.nq), a.queries, static_cast<idx_t>(a.k), dist.data(),
                 ids.data());
    std::vector<std::vector<uint32_t>> got(a.nq);
    for (uint32_t q = 0; q < a.nq; ++q) {
      for (uint32_t i = 0; i < a.k; ++i) {
        const idx_t id = ids[size_t{q} * a.k + i];
        if (id >= 0) got[q].push_back(static_cast<uint32_t>(id));
      }
    }
    out.recall = RecallAtK(got, *a.truth);
  } catch (const std::exception& e) {
    out.missing = std::string("FAISS: ") + e.what();
  }
#else
  out.missing = "built without FAISS (libfaiss-dev)";
#endif
  return out;
}

}  // namespace latentsearch::bench

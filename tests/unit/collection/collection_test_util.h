// Setup shared by the collection tests (collection_test.cc,
// graph_persistence_test.cc): a config with small HNSW graphs, the options
// of a collection in a test directory, and seeded random items.
//
// Thread-safety: plain functions without shared state.
#ifndef LATENTSEARCH_TESTS_UNIT_COLLECTION_COLLECTION_TEST_UTIL_H_
#define LATENTSEARCH_TESTS_UNIT_COLLECTION_COLLECTION_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/file.h"
#include "common/index/collection.h"
#include "common/index/collection_persistence.h"
#include "common/index/collection_types.h"

namespace latentsearch::index::collection_test_util {

// The vector size of the test collections.
inline constexpr uint32_t kDim = 8;

// A kDim collection named `name` over every metric, with small HNSW graphs
// (m 8, ef_construction and ef_search 64).
inline CollectionConfig SmallGraphConfig(const std::string& name) {
  CollectionConfig c;
  c.name = name;
  c.dim = kDim;
  c.hnsw_params.m = 8;
  c.hnsw_params.ef_construction = 64;
  c.ef_search = 64;
  return c;
}

// A collection in `dir`, one index thread, graphs rebuilt after 50 changes.
inline CollectionOptions TestOptions(const std::string& dir) {
  CollectionOptions o;
  o.dir = dir;
  o.rebuild_min_changes = 50;
  o.num_threads = 1;
  return o;
}

// Items "id<first>" .. "id<first+count-1>" (label i % 5, uri "u<i>") with
// standard normal vectors drawn from `seed`.
inline ItemBatch RandomItems(int first, int count, uint64_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  ItemBatch b;
  for (int i = first; i < first + count; ++i) {
    b.metas.push_back({"id" + std::to_string(i), i % 5, "u" + std::to_string(i)});
    for (uint32_t d = 0; d < kDim; ++d) b.vectors.push_back(g(rng));
  }
  return b;
}

// The file of `metric`'s graph named by the manifest in `dir`; NOT_FOUND
// when the manifest names none.
inline absl::StatusOr<std::string> SavedGraphPath(const std::string& dir, Metric metric) {
  absl::StatusOr<GraphManifest> m = ReadGraphManifest(dir);
  if (!m.ok()) return m.status();
  for (const GraphManifestEntry& e : m->entries) {
    if (e.metric == metric) return GraphFilePath(dir, metric, e.file_id);
  }
  return absl::NotFoundError("the manifest names no such graph");
}

}  // namespace latentsearch::index::collection_test_util

#endif  // LATENTSEARCH_TESTS_UNIT_COLLECTION_COLLECTION_TEST_UTIL_H_

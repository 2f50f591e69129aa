// Plain data types shared by the Collection and its storage (snapshot and
// write-ahead log). No behaviour here.
// Thread-safety: value types.
#ifndef LATENTSEARCH_COMMON_INDEX_COLLECTION_TYPES_H_
#define LATENTSEARCH_COMMON_INDEX_COLLECTION_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/index/hnsw.h"
#include "common/index/metric.h"

namespace latentsearch::index {

// What a collection is; fixed at creation.
struct CollectionConfig {
  std::string name;
  // Vector length, >= 1.
  uint32_t dim = 0;
  // The model (name, version) the vectors came from; version 0 = none.
  std::string model_name;
  uint64_t model_version = 0;
  // Metrics indexed (a subset of kAllMetrics, no duplicates, sorted).
  std::vector<Metric> metrics = {Metric::kL1, Metric::kL2, Metric::kCosine};
  // Keep an HNSW graph per metric (the exact index is always kept).
  bool hnsw = true;
  HnswParams hnsw_params;
  // Default HNSW candidate list size for searches.
  uint32_t ef_search = 64;
  // Microseconds since the Unix epoch.
  int64_t created_at_us = 0;
};

// An item without its vector.
struct ItemMeta {
  std::string id;
  int32_t label = -1;
  std::string uri;
};

// A batch of items: metas[i] goes with vectors[i*dim .. (i+1)*dim).
struct ItemBatch {
  std::vector<ItemMeta> metas;
  std::vector<float> vectors;  // metas.size() × dim
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_COLLECTION_TYPES_H_

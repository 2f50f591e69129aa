// Plain data types shared by the Collection and its storage (snapshot and
// write-ahead log), including the versioned (replicated) writes and what
// they report. No behaviour here; the last-writer-wins order is in
// versioning.h.
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

// Versioned writes to one replica of a shard (Collection::ApplyVersioned).
// Each write carries the version its router assigned (a hybrid logical
// clock); per id the greatest write wins (versioning.h).
struct VersionedWriteBatch {
  ItemBatch upserts;                      // metas + vectors (dim floats each)
  std::vector<uint64_t> upsert_versions;  // one per upsert
  std::vector<std::string> delete_ids;
  std::vector<uint64_t> delete_versions;  // one per delete
};

// What ApplyVersioned did with each write of a batch; the fields add up to
// the number of writes.
struct ApplyCounts {
  uint64_t inserted = 0;    // winning upserts of ids not live (absent or tombstoned)
  uint64_t replaced = 0;    // winning upserts over a live item
  uint64_t deleted = 0;     // winning deletes of live items
  uint64_t not_found = 0;   // winning deletes of ids not live (a tombstone is kept)
  uint64_t superseded = 0;  // writes that lost to what was held or to the batch
};

// A deleted id the collection remembers with the delete's version, so that
// an older upsert arriving later loses.
struct Tombstone {
  std::string id;
  uint64_t version = 0;
};

// A live item or (deleted) a tombstone, as Collection::Scan returns it. For
// a tombstone only meta.id is set and vector is empty.
struct VersionedEntry {
  ItemMeta meta;
  std::vector<float> vector;  // dim floats when asked for, else empty
  uint64_t version = 0;
  bool deleted = false;
};

// A replica's state in four numbers; two replicas holding the same items
// and tombstones at the same versions have the same summary.
struct ReplicaSummary {
  uint64_t item_count = 0;   // live items
  uint64_t tombstones = 0;   // tombstones kept
  uint64_t max_version = 0;  // greatest version of any write applied
  // XOR of ReplicaEntryHash(id, version, deleted) over live items and
  // tombstones (versioning.h): independent of the order of the writes.
  uint64_t digest = 0;
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_COLLECTION_TYPES_H_

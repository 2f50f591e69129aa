// Saved HNSW graphs of a collection: the graph files beside the snapshot
// ("hnsw-<metric>.bin", hnswlib's format, see hnsw_format.h) and the
// manifest ("hnsw.manifest") that says which snapshot they belong to and
// how to check them. Collection::SaveGraphs / LoadGraphs (defined in
// collection_persistence.cc) use these; a restart loads valid graphs
// instead of rebuilding them.
//
// Manifest (little-endian): "LSHNSW01" | u64 wal_seq | u32 count |
//   count × (u8 metric | u32 built_n | u64 bytes | u32 crc32 of the file) |
//   u32 crc32 of everything before it.
//
// Thread-safety: thread-safe for distinct directories.
#ifndef LATENTSEARCH_COMMON_INDEX_COLLECTION_PERSISTENCE_H_
#define LATENTSEARCH_COMMON_INDEX_COLLECTION_PERSISTENCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/index/hnsw.h"
#include "common/index/metric.h"

namespace latentsearch::base {
class FileOps;
}  // namespace latentsearch::base

namespace latentsearch::index {

struct GraphManifestEntry {
  Metric metric = Metric::kL2;
  uint32_t built_n = 0;  // the graph covers slots < built_n
  uint64_t bytes = 0;    // size of the graph file
  uint32_t crc = 0;      // CRC-32 of the graph file
};

struct GraphManifest {
  // The snapshot (its log sequence number) whose slots the graphs label.
  uint64_t wal_seq = 0;
  std::vector<GraphManifestEntry> entries;  // at most one per metric
};

std::string EncodeGraphManifest(const GraphManifest& manifest);
// DATA_LOSS naming `path` and what is wrong for a damaged manifest.
absl::StatusOr<GraphManifest> DecodeGraphManifest(absl::string_view bytes, const std::string& path);

// Paths inside a collection directory.
std::string GraphManifestPath(const std::string& dir);
std::string GraphFilePath(const std::string& dir, Metric metric);

// One graph to save: `index` (not owned) covers slots < built_n.
struct GraphToSave {
  Metric metric = Metric::kL2;
  const HnswIndex* index = nullptr;
  uint32_t built_n = 0;
};

// Saves each graph atomically through `ops` (nullptr = the real file
// system), then publishes a manifest for `wal_seq` naming the graphs that
// were saved, through `ops` too. A graph that cannot be saved is left out of the manifest (it
// is rebuilt at the next start); the returned error names every failure.
absl::Status SaveGraphFiles(const std::string& dir, uint64_t wal_seq,
                            const std::vector<GraphToSave>& graphs, base::FileOps* ops = nullptr);

// A graph read back from disk.
struct LoadedGraph {
  Metric metric = Metric::kL2;
  uint32_t built_n = 0;
  // The graph, or why it could not be used (checksum, size, parse error).
  absl::StatusOr<std::unique_ptr<HnswIndex>> index;
  double load_seconds = 0;
};

// Reads the manifest in `dir` and loads the graphs it lists for vectors of
// `dim`. An empty list when there is no manifest; DATA_LOSS when it is
// damaged or belongs to another snapshot than `snapshot_seq` (a crash
// between the snapshot and its graphs). Each graph's own failure is in its
// LoadedGraph.
absl::StatusOr<std::vector<LoadedGraph>> LoadGraphFiles(const std::string& dir, size_t dim,
                                                        uint64_t snapshot_seq);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_COLLECTION_PERSISTENCE_H_

// Saved HNSW graphs of a collection: the graph files beside the snapshot
// ("hnsw-<metric>-<file id>.bin", hnswlib's format, see hnsw_format.h) and
// the manifest ("hnsw.manifest") that says which slot numbering they use,
// which log position each covers and how to check them.
// Collection::SaveGraphs / LoadGraphs (defined in collection_persistence.cc)
// use these; a restart loads valid graphs instead of rebuilding them.
//
// Slot numbering: graphs label rows with slots. Opening a collection numbers
// the snapshot's items 0.. in order, then appends one slot per replayed
// upsert, so the numbering of a running collection is a function of the
// snapshot it opened and the log. A graph saved with `base_seq` = that
// snapshot's log sequence number (or a later snapshot written while no slot
// was dead, which numbers items the same) labels the same items after a
// restart; `covered_seq` and `built_n` (the slots after replaying the log
// through covered_seq) are checked against the replay.
//
// Manifest v2 (little-endian): "LSHNSW02" | u64 base_seq |
//   u64 created_at_us (the collection's, so a namesake never matches) |
//   u32 count | count × (u8 metric | u32 built_n | u64 covered_seq |
//   u64 file_id | u64 bytes | u32 crc32 of the file) |
//   u32 crc32 of everything before it.
// Manifest v1 (still read): "LSHNSW01" | u64 wal_seq | u32 count |
//   count × (u8 metric | u32 built_n | u64 bytes | u32 crc32) | u32 crc32;
//   its files are "hnsw-<metric>.bin" (file_id 0), covered_seq = wal_seq.
//
// Every file is published atomically (temp + fsync + rename + directory
// fsync); a new graph gets a new file id, the manifest is published after
// the graph files and names them, and files it no longer names are removed
// afterwards, so a crash at any point leaves a manifest whose files are
// complete (or a manifest that does not match and is ignored).
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
  uint32_t built_n = 0;      // the graph covers slots < built_n
  uint64_t covered_seq = 0;  // ... which are those after this log record
  uint64_t file_id = 0;      // names the file (0 = v1's "hnsw-<metric>.bin")
  uint64_t bytes = 0;        // size of the graph file
  uint32_t crc = 0;          // CRC-32 of the graph file
};

struct GraphManifest {
  // The snapshot (its log sequence number) whose slot numbering the graphs
  // use.
  uint64_t base_seq = 0;
  // The collection's creation time (CollectionConfig::created_at_us); 0 in
  // v1 manifests (not checked then).
  int64_t created_at_us = 0;
  std::vector<GraphManifestEntry> entries;  // at most one per metric
};

// Encodes v2.
std::string EncodeGraphManifest(const GraphManifest& manifest);
// Reads v2 and v1. DATA_LOSS naming `path` and what is wrong for a damaged
// manifest.
absl::StatusOr<GraphManifest> DecodeGraphManifest(absl::string_view bytes, const std::string& path);

// Paths inside a collection directory.
std::string GraphManifestPath(const std::string& dir);
std::string GraphFilePath(const std::string& dir, Metric metric, uint64_t file_id);

// One graph of a manifest to publish: either `index` (not owned) to be
// written to `entry.file_id`'s file (bytes and crc are filled in), or, with
// index == nullptr, a file already saved and described by `entry`.
struct GraphToSave {
  const HnswIndex* index = nullptr;
  GraphManifestEntry entry;
};

// Writes each graph with an index atomically through `ops` (nullptr = the
// real file system), then publishes a manifest for `base_seq` and
// `created_at_us` naming the graphs that were saved or kept, through `ops`
// too, then removes graph files the manifest does not name. A graph that
// cannot be saved is left out of the manifest (it is rebuilt at the next
// start); `saved` (if not null) receives the entries published; the
// returned error names every failure.
absl::Status SaveGraphFiles(const std::string& dir, uint64_t base_seq, int64_t created_at_us,
                            std::vector<GraphToSave> graphs, base::FileOps* ops = nullptr,
                            std::vector<GraphManifestEntry>* saved = nullptr);

// Removes the manifest (first) and every graph file in `dir`; best effort.
void RemoveGraphFiles(const std::string& dir);

// A graph read back from disk.
struct LoadedGraph {
  GraphManifestEntry entry;
  // The graph, or why it could not be used (checksum, size, parse error).
  absl::StatusOr<std::unique_ptr<HnswIndex>> index;
  double load_seconds = 0;
};

// Reads the manifest in `dir`: NOT_FOUND when there is none, DATA_LOSS when
// it is damaged.
absl::StatusOr<GraphManifest> ReadGraphManifest(const std::string& dir);

// Loads (after checking its size and checksum) the graph `entry` names, for
// vectors of `dim` that it reads in place from `rows`.
LoadedGraph LoadGraphFile(const std::string& dir, size_t dim, const RowSource& rows,
                          const GraphManifestEntry& entry);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_COLLECTION_PERSISTENCE_H_

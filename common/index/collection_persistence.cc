// Saved HNSW graphs: the manifest codec, saving and loading graph files
// (see collection_persistence.h), and Collection::SaveGraphs / LoadGraphs.
#include "common/index/collection_persistence.h"

#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/crc32.h"
#include "common/base/file.h"
#include "common/base/file_ops.h"
#include "common/base/little_endian.h"
#include "common/base/logging.h"
#include "common/index/collection.h"

namespace latentsearch::index {
namespace {

constexpr char kGraphManifest[] = "hnsw.manifest";
constexpr char kGraphManifestMagic[8] = {'L', 'S', 'H', 'N', 'S', 'W', '0', '1'};
constexpr size_t kEntryBytes = 1 + 4 + 8 + 4;
constexpr uint32_t kMaxEntries = kNumMetrics;  // one per metric

absl::Status BadManifest(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("HNSW manifest '", path, "': ", what));
}

// A file that forwards to another and counts the size and CRC-32 of what
// is appended. Thread-compatible.
class ChecksummingFile final : public base::WritableFile {
 public:
  ChecksummingFile(std::unique_ptr<base::WritableFile> file, uint64_t* bytes, uint32_t* crc)
      : file_(std::move(file)), bytes_(bytes), crc_(crc) {}
  absl::Status Append(absl::string_view data) override {
    absl::Status s = file_->Append(data);
    if (s.ok()) {
      *bytes_ += data.size();
      *crc_ = base::Crc32Extend(*crc_, data.data(), data.size());
    }
    return s;
  }
  absl::Status Sync() override { return file_->Sync(); }
  absl::Status Close() override { return file_->Close(); }

 private:
  std::unique_ptr<base::WritableFile> file_;
  uint64_t* const bytes_;
  uint32_t* const crc_;
};

// FileOps forwarding to `ops` that checksums the files it creates (one
// file at a time: bytes() and crc() are those of the last one created).
// Thread-compatible.
class ChecksummingOps final : public base::FileOps {
 public:
  explicit ChecksummingOps(base::FileOps& ops) : ops_(ops) {}
  absl::StatusOr<std::unique_ptr<base::WritableFile>> Create(const std::string& path) override {
    absl::StatusOr<std::unique_ptr<base::WritableFile>> file = ops_.Create(path);
    if (!file.ok()) return file.status();
    bytes_ = 0;
    crc_ = 0;
    return std::unique_ptr<base::WritableFile>(
        new ChecksummingFile(std::move(*file), &bytes_, &crc_));
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    return ops_.Rename(from, to);
  }
  absl::Status Remove(const std::string& path) override { return ops_.Remove(path); }
  absl::Status SyncDir(const std::string& dir) override { return ops_.SyncDir(dir); }
  uint64_t bytes() const { return bytes_; }
  uint32_t crc() const { return crc_; }

 private:
  base::FileOps& ops_;
  uint64_t bytes_ = 0;
  uint32_t crc_ = 0;
};

// Saves one graph and returns its manifest entry (size and checksum of the
// file as written, counted while writing it).
absl::StatusOr<GraphManifestEntry> SaveGraphFile(const std::string& dir, const GraphToSave& graph,
                                                 base::FileOps& ops) {
  ChecksummingOps checksumming(ops);
  absl::Status saved = graph.index->Save(GraphFilePath(dir, graph.metric), &checksumming);
  if (!saved.ok()) return saved;
  return GraphManifestEntry{graph.metric, graph.built_n, checksumming.bytes(), checksumming.crc()};
}

// Loads one listed graph after checking its size and checksum.
LoadedGraph LoadGraphFile(const std::string& dir, size_t dim, const GraphManifestEntry& e) {
  LoadedGraph out;
  out.metric = e.metric;
  out.built_n = e.built_n;
  const std::string path = GraphFilePath(dir, e.metric);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) {
    out.index = bytes.status();
  } else if (bytes->size() != e.bytes) {
    out.index = absl::DataLossError(
        absl::StrCat("'", path, "' is ", bytes->size(), " bytes; the manifest says ", e.bytes));
  } else if (const uint32_t crc = base::Crc32(*bytes); crc != e.crc) {
    out.index = absl::DataLossError(absl::StrCat("'", path, "': checksum mismatch (crc32 ", crc,
                                                 ", the manifest says ", e.crc, ")"));
  } else {
    out.index = HnswIndex::LoadFromBytes(path, *bytes, e.metric, dim);
  }
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace

std::string GraphManifestPath(const std::string& dir) {
  return base::JoinPath(dir, kGraphManifest);
}

std::string GraphFilePath(const std::string& dir, Metric metric) {
  return base::JoinPath(dir, absl::StrCat("hnsw-", MetricName(metric), ".bin"));
}

std::string EncodeGraphManifest(const GraphManifest& manifest) {
  using base::AppendLittleEndian;
  std::string out(kGraphManifestMagic, 8);
  AppendLittleEndian<uint64_t>(manifest.wal_seq, &out);
  AppendLittleEndian<uint32_t>(static_cast<uint32_t>(manifest.entries.size()), &out);
  for (const GraphManifestEntry& e : manifest.entries) {
    AppendLittleEndian<uint8_t>(static_cast<uint8_t>(e.metric), &out);
    AppendLittleEndian<uint32_t>(e.built_n, &out);
    AppendLittleEndian<uint64_t>(e.bytes, &out);
    AppendLittleEndian<uint32_t>(e.crc, &out);
  }
  AppendLittleEndian<uint32_t>(base::Crc32(out), &out);
  return out;
}

absl::StatusOr<GraphManifest> DecodeGraphManifest(absl::string_view b, const std::string& path) {
  if (b.size() < 8 + 8 + 4 + 4) {
    return BadManifest(path, absl::StrCat("truncated (", b.size(), " bytes)"));
  }
  if (std::memcmp(b.data(), kGraphManifestMagic, 8) != 0) {
    return BadManifest(path, "bad magic number; expected \"LSHNSW01\"");
  }
  const uint32_t crc = base::LoadLittleEndian<uint32_t>(b.data() + b.size() - 4);
  if (const uint32_t actual = base::Crc32(b.substr(0, b.size() - 4)); actual != crc) {
    return BadManifest(path,
                       absl::StrCat("checksum mismatch (crc32 ", actual, ", stored ", crc, ")"));
  }
  base::LittleEndianReader r(b.substr(0, b.size() - 4));
  GraphManifest m;
  uint32_t count = 0;
  r.Skip(8);
  r.Read(&m.wal_seq);
  r.Read(&count);
  if (count > kMaxEntries || r.remaining() != size_t{count} * kEntryBytes) {
    return BadManifest(path,
                       absl::StrCat(count, " entries in ", b.size(), " bytes; expected at most ",
                                    kMaxEntries, " entries of ", kEntryBytes, " bytes"));
  }
  for (uint32_t i = 0; i < count; ++i) {
    GraphManifestEntry e;
    uint8_t metric = 0;
    r.Read(&metric);
    if (metric >= kNumMetrics) {
      return BadManifest(path, absl::StrCat("unknown metric code ", int{metric}, "; expected 0..",
                                            kNumMetrics - 1));
    }
    e.metric = static_cast<Metric>(metric);
    r.Read(&e.built_n);
    r.Read(&e.bytes);
    r.Read(&e.crc);
    m.entries.push_back(e);
  }
  return m;
}

absl::Status SaveGraphFiles(const std::string& dir, uint64_t wal_seq,
                            const std::vector<GraphToSave>& graphs, base::FileOps* ops) {
  base::FileOps& file_ops = ops != nullptr ? *ops : base::DefaultFileOps();
  GraphManifest manifest;
  manifest.wal_seq = wal_seq;
  std::vector<std::string> failures;
  for (const GraphToSave& graph : graphs) {
    absl::StatusOr<GraphManifestEntry> entry = SaveGraphFile(dir, graph, file_ops);
    if (entry.ok()) {
      manifest.entries.push_back(*entry);
    } else {
      failures.push_back(
          absl::StrCat("graph ", MetricName(graph.metric), ": ", entry.status().ToString()));
    }
  }
  // The manifest is published last (each graph file is already durable);
  // without a valid one, graphs are rebuilt.
  const std::string encoded = EncodeGraphManifest(manifest);
  absl::Status s =
      base::PublishFile(file_ops, GraphManifestPath(dir),
                        [&encoded](base::WritableFile& f) { return f.Append(encoded); });
  if (!s.ok()) failures.push_back(absl::StrCat("manifest: ", s.ToString()));
  if (failures.empty()) return absl::OkStatus();
  return absl::UnknownError(
      absl::StrCat("saving HNSW graphs in '", dir, "' failed: ", absl::StrJoin(failures, "; ")));
}

absl::StatusOr<std::vector<LoadedGraph>> LoadGraphFiles(const std::string& dir, size_t dim,
                                                        uint64_t snapshot_seq) {
  const std::string path = GraphManifestPath(dir);
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (absl::IsNotFound(bytes.status())) return std::vector<LoadedGraph>();
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<GraphManifest> manifest = DecodeGraphManifest(*bytes, path);
  if (!manifest.ok()) return manifest.status();
  if (manifest->wal_seq != snapshot_seq) {
    return BadManifest(path, absl::StrCat("it is for the snapshot at log sequence ",
                                          manifest->wal_seq, ", the snapshot is at ", snapshot_seq,
                                          " (the graphs of a newer snapshot were not saved)"));
  }
  std::vector<LoadedGraph> graphs;
  for (const GraphManifestEntry& e : manifest->entries)
    graphs.push_back(LoadGraphFile(dir, dim, e));
  return graphs;
}

absl::Status Collection::SaveGraphs(uint64_t wal_seq) {
  std::vector<GraphToSave> graphs;
  std::vector<std::shared_ptr<const Graph>> keep;  // alive while saving
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    // Graphs label items by slot; the snapshot renumbers slots unless none
    // is dead. Only then do saved graphs match the snapshot.
    if (config_.hnsw && metas_.size() == live_count_ && killed_since_build_ == 0) {
      for (Metric m : config_.metrics) {
        const std::shared_ptr<const Graph>& g = graphs_[MetricIndex(m)];
        if (g == nullptr) continue;
        keep.push_back(g);
        graphs.push_back({m, g->index.get(), g->built_n});
      }
    }
  }
  return SaveGraphFiles(options_.dir, wal_seq, graphs, options_.file_ops);
}

absl::Status Collection::LoadGraphs(uint64_t snapshot_seq) {
  if (!config_.hnsw) return absl::OkStatus();
  absl::StatusOr<std::vector<LoadedGraph>> loaded =
      LoadGraphFiles(options_.dir, config_.dim, snapshot_seq);
  if (!loaded.ok()) return loaded.status();
  std::vector<std::string> failures;
  for (LoadedGraph& lg : *loaded) {
    if (!lg.index.ok()) {
      failures.push_back(
          absl::StrCat("graph ", MetricName(lg.metric), ": ", lg.index.status().ToString()));
      continue;
    }
    auto g = std::make_shared<Graph>();
    g->index = std::move(*lg.index);
    g->built_n = lg.built_n;
    g->build_seconds = lg.load_seconds;
    g->built_at_us = NowMicros();
    std::unique_lock<std::shared_mutex> l(mu_);
    if (lg.built_n > metas_.size()) {
      failures.push_back(absl::StrCat("graph ", MetricName(lg.metric), ": covers ", lg.built_n,
                                      " slots, the collection has ", metas_.size()));
      continue;
    }
    graphs_[MetricIndex(lg.metric)] = std::move(g);
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrJoin(failures, "; "));
}

}  // namespace latentsearch::index

// Saved HNSW graphs: the manifest codec, saving and loading graph files
// (see collection_persistence.h), and Collection::SaveGraphs / LoadGraphs.
#include "common/index/collection_persistence.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/crc32.h"
#include "common/base/file.h"
#include "common/base/file_ops.h"
#include "common/base/little_endian.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/index/collection.h"

namespace latentsearch::index {
namespace {

constexpr char kGraphManifest[] = "hnsw.manifest";
constexpr char kGraphManifestMagicV1[8] = {'L', 'S', 'H', 'N', 'S', 'W', '0', '1'};
constexpr char kGraphManifestMagic[8] = {'L', 'S', 'H', 'N', 'S', 'W', '0', '2'};
constexpr size_t kEntryBytesV1 = 1 + 4 + 8 + 4;
constexpr size_t kEntryBytes = 1 + 4 + 8 + 8 + 8 + 4;
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
  GraphManifestEntry e = graph.entry;
  absl::Status saved = graph.index->Save(GraphFilePath(dir, e.metric, e.file_id), &checksumming);
  if (!saved.ok()) return saved;
  e.bytes = checksumming.bytes();
  e.crc = checksumming.crc();
  return e;
}

// Whether `name` is a graph file (v1 or v2) or the temp file of one
// ("<file>.tmp.<pid>.<random>", left behind by a crash while saving).
bool IsGraphFileName(absl::string_view name) { return absl::StartsWith(name, "hnsw-"); }

// Removes graph files in `dir` that `keep` does not name; best effort (a
// leftover file costs disk space only).
void RemoveUnnamedGraphFiles(const std::string& dir, const std::vector<GraphManifestEntry>& keep) {
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    if (!IsGraphFileName(name)) continue;
    bool named = false;
    for (const GraphManifestEntry& e : keep) {
      named =
          named || f.path().filename() ==
                       std::filesystem::path(GraphFilePath(dir, e.metric, e.file_id)).filename();
    }
    if (!named) std::filesystem::remove(f.path(), ec);
  }
}

}  // namespace

std::string GraphManifestPath(const std::string& dir) {
  return base::JoinPath(dir, kGraphManifest);
}

std::string GraphFilePath(const std::string& dir, Metric metric, uint64_t file_id) {
  if (file_id == 0) return base::JoinPath(dir, absl::StrCat("hnsw-", MetricName(metric), ".bin"));
  return base::JoinPath(dir, absl::StrCat("hnsw-", MetricName(metric), "-", file_id, ".bin"));
}

std::string EncodeGraphManifest(const GraphManifest& manifest) {
  using base::AppendLittleEndian;
  std::string out(kGraphManifestMagic, 8);
  AppendLittleEndian<uint64_t>(manifest.base_seq, &out);
  AppendLittleEndian<int64_t>(manifest.created_at_us, &out);
  AppendLittleEndian<uint32_t>(static_cast<uint32_t>(manifest.entries.size()), &out);
  for (const GraphManifestEntry& e : manifest.entries) {
    AppendLittleEndian<uint8_t>(static_cast<uint8_t>(e.metric), &out);
    AppendLittleEndian<uint32_t>(e.built_n, &out);
    AppendLittleEndian<uint64_t>(e.covered_seq, &out);
    AppendLittleEndian<uint64_t>(e.file_id, &out);
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
  const bool v1 = std::memcmp(b.data(), kGraphManifestMagicV1, 8) == 0;
  if (!v1 && std::memcmp(b.data(), kGraphManifestMagic, 8) != 0) {
    return BadManifest(path, "bad magic number; expected \"LSHNSW02\" or \"LSHNSW01\"");
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
  r.Read(&m.base_seq);
  if (!v1) {
    if (r.remaining() < 8 + 4) return BadManifest(path, "truncated header");
    r.Read(&m.created_at_us);
  }
  r.Read(&count);
  const size_t entry_bytes = v1 ? kEntryBytesV1 : kEntryBytes;
  if (count > kMaxEntries || r.remaining() != size_t{count} * entry_bytes) {
    return BadManifest(path,
                       absl::StrCat(count, " entries in ", b.size(), " bytes; expected at most ",
                                    kMaxEntries, " entries of ", entry_bytes, " bytes"));
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
    e.covered_seq = m.base_seq;
    if (!v1) {
      r.Read(&e.covered_seq);
      r.Read(&e.file_id);
    }
    r.Read(&e.bytes);
    r.Read(&e.crc);
    m.entries.push_back(e);
  }
  return m;
}

absl::Status SaveGraphFiles(const std::string& dir, uint64_t base_seq, int64_t created_at_us,
                            std::vector<GraphToSave> graphs, base::FileOps* ops,
                            std::vector<GraphManifestEntry>* saved) {
  base::FileOps& file_ops = ops != nullptr ? *ops : base::DefaultFileOps();
  GraphManifest manifest;
  manifest.base_seq = base_seq;
  manifest.created_at_us = created_at_us;
  std::vector<std::string> failures;
  for (const GraphToSave& graph : graphs) {
    if (graph.index == nullptr) {
      manifest.entries.push_back(graph.entry);
      continue;
    }
    absl::StatusOr<GraphManifestEntry> entry = SaveGraphFile(dir, graph, file_ops);
    if (entry.ok()) {
      manifest.entries.push_back(*entry);
    } else {
      failures.push_back(
          absl::StrCat("graph ", MetricName(graph.entry.metric), ": ", entry.status().ToString()));
    }
  }
  // The manifest is published last (each graph file is already durable);
  // without a valid one, graphs are rebuilt.
  const std::string encoded = EncodeGraphManifest(manifest);
  absl::Status s =
      base::PublishFile(file_ops, GraphManifestPath(dir),
                        [&encoded](base::WritableFile& f) { return f.Append(encoded); });
  if (!s.ok()) {
    failures.push_back(absl::StrCat("manifest: ", s.ToString()));
  } else {
    RemoveUnnamedGraphFiles(dir, manifest.entries);
    if (saved != nullptr) *saved = manifest.entries;
  }
  if (failures.empty()) return absl::OkStatus();
  return absl::UnknownError(
      absl::StrCat("saving HNSW graphs in '", dir, "' failed: ", absl::StrJoin(failures, "; ")));
}

void RemoveGraphFiles(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove(GraphManifestPath(dir), ec);
  RemoveUnnamedGraphFiles(dir, {});
}

absl::StatusOr<GraphManifest> ReadGraphManifest(const std::string& dir) {
  const std::string path = GraphManifestPath(dir);
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return DecodeGraphManifest(*bytes, path);
}

LoadedGraph LoadGraphFile(const std::string& dir, size_t dim, const RowSource& rows,
                          const GraphManifestEntry& e) {
  LoadedGraph out;
  out.entry = e;
  const std::string path = GraphFilePath(dir, e.metric, e.file_id);
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
    out.index = HnswIndex::LoadOver(path, *bytes, e.metric, dim, rows);
  }
  out.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

absl::Status Collection::SaveGraphs() {
  std::lock_guard<std::mutex> sl(save_mu_);
  if (abandoned_ || !config_.hnsw) return absl::OkStatus();
  // A snapshot renumbered the slots (RebaseGraphs logged it): nothing this
  // process holds can be saved.
  if (numbering_diverged_) return absl::OkStatus();
  std::vector<std::shared_ptr<const Graph>> current(kNumMetrics);  // alive while saving
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    for (Metric m : config_.metrics) current[MetricIndex(m)] = graphs_[MetricIndex(m)];
  }
  std::vector<GraphToSave> graphs;
  for (Metric m : config_.metrics) {
    const size_t i = MetricIndex(m);
    const std::shared_ptr<const Graph>& g = current[i];
    if (saved_[i].valid && (g == nullptr || saved_[i].graph.lock() == g)) {
      graphs.push_back({nullptr, saved_[i].entry});  // on disk already
      continue;
    }
    if (g == nullptr) continue;
    GraphToSave t;
    t.index = g->index.get();
    t.entry.metric = m;
    t.entry.built_n = g->built_n;
    t.entry.covered_seq = g->covered_seq;
    t.entry.file_id = next_graph_file_id_++;
    graphs.push_back(t);
  }
  std::vector<GraphManifestEntry> published;
  absl::Status s = SaveGraphFiles(options_.dir, numbering_base_seq_, config_.created_at_us,
                                  std::move(graphs), options_.file_ops, &published);
  if (!published.empty() || s.ok()) {
    // The manifest on disk names exactly `published` now.
    for (SavedGraph& sg : saved_) sg = SavedGraph();
    for (const GraphManifestEntry& e : published) {
      const size_t i = MetricIndex(e.metric);
      saved_[i] = {true, current[i], e};
    }
  }
  return s;
}

absl::Status Collection::RebaseGraphs(uint64_t snapshot_seq, bool renumbers) {
  {
    std::lock_guard<std::mutex> sl(save_mu_);
    if (abandoned_ || !config_.hnsw) return absl::OkStatus();
    if (renumbers) {
      if (!numbering_diverged_) {
        LOG(INFO) << "collection '" << config_.name << "': the snapshot at log sequence "
                  << snapshot_seq << " dropped deleted items and renumbered the slots; the HNSW "
                  << "graphs are rebuilt after the next restart";
      }
      numbering_diverged_ = true;
      RemoveGraphFiles(options_.dir);
      for (SavedGraph& sg : saved_) sg = SavedGraph();
      return absl::OkStatus();
    }
    numbering_base_seq_ = snapshot_seq;
  }
  return SaveGraphs();
}

absl::Status Collection::LoadGraphs(const std::vector<ReplayMark>& marks) {
  if (!config_.hnsw) return absl::OkStatus();
  absl::StatusOr<GraphManifest> manifest = ReadGraphManifest(options_.dir);
  if (absl::IsNotFound(manifest.status())) return absl::OkStatus();
  if (!manifest.ok()) return manifest.status();
  std::lock_guard<std::mutex> sl(save_mu_);
  for (const GraphManifestEntry& e : manifest->entries) {
    next_graph_file_id_ = std::max(next_graph_file_id_, e.file_id + 1);
  }
  const std::string path = GraphManifestPath(options_.dir);
  if (manifest->base_seq != marks[0].seq) {
    return BadManifest(path, absl::StrCat("it is for the snapshot at log sequence ",
                                          manifest->base_seq, ", the snapshot is at ", marks[0].seq,
                                          " (a snapshot renumbered the slots after the graphs "
                                          "were saved)"));
  }
  if (manifest->created_at_us != 0 && manifest->created_at_us != config_.created_at_us) {
    return BadManifest(path, "it belongs to another collection (creation time differs)");
  }
  std::vector<std::string> failures;
  std::vector<GraphManifestEntry> usable;
  uint64_t killed_at_cover = killed_since_build_;
  for (const GraphManifestEntry& e : manifest->entries) {
    if (absl::Status s = CheckGraphCover(e, marks, &killed_at_cover); !s.ok()) {
      failures.push_back(absl::StrCat("graph ", MetricName(e.metric), ": ", s.message()));
    } else {
      usable.push_back(e);
    }
  }
  RowSource rows;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    rows = Rows();
  }
  std::vector<LoadedGraph> loaded = LoadGraphFilesInParallel(usable, rows);
  std::unique_lock<std::shared_mutex> l(mu_);
  for (LoadedGraph& lg : loaded) {
    if (absl::Status s = InstallLoadedGraph(lg); !s.ok()) {
      failures.push_back(absl::StrCat("graph ", MetricName(lg.entry.metric), ": ", s.message()));
    }
  }
  // Slots killed since the oldest usable graph was built count towards the
  // next rebuild, as they would have without the restart.
  killed_since_build_ -= std::min(killed_since_build_, killed_at_cover);
  if (failures.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrJoin(failures, "; "));
}

absl::Status Collection::CheckGraphCover(const GraphManifestEntry& e,
                                         const std::vector<ReplayMark>& marks,
                                         uint64_t* killed_at_cover) const {
  if (std::find(config_.metrics.begin(), config_.metrics.end(), e.metric) ==
      config_.metrics.end()) {
    return absl::DataLossError("the collection does not index this metric");
  }
  // The replay must have numbered slots < built_n as the process that
  // built the graph did: the same snapshot (checked by the caller) and the
  // log through covered_seq giving exactly built_n slots.
  auto mark = std::find_if(marks.begin(), marks.end(),
                           [&e](const ReplayMark& m) { return m.seq == e.covered_seq; });
  const bool before_snapshot = e.covered_seq <= marks[0].seq;
  const uint32_t have = before_snapshot ? marks[0].slots : (mark == marks.end() ? 0 : mark->slots);
  if (before_snapshot ? e.built_n > have : (mark == marks.end() || have != e.built_n)) {
    return absl::DataLossError(absl::StrCat(
        "covers ", e.built_n, " slots through log record ", e.covered_seq, "; the replay has ",
        have, " slots there (the log ends at record ", marks.back().seq, ")"));
  }
  *killed_at_cover = std::min(*killed_at_cover, before_snapshot ? 0 : mark->killed);
  return absl::OkStatus();
}

std::vector<LoadedGraph> Collection::LoadGraphFilesInParallel(
    const std::vector<GraphManifestEntry>& entries, const RowSource& rows) const {
  std::vector<LoadedGraph> loaded(entries.size());
  // Each load holds its file and its graph: at most num_threads at once.
  const size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min<size_t>(
      entries.size(), options_.num_threads > 0 ? static_cast<size_t>(options_.num_threads) : hw);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < entries.size(); i = next.fetch_add(1)) {
      loaded[i] = LoadGraphFile(options_.dir, config_.dim, rows, entries[i]);
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return loaded;
}

absl::Status Collection::InstallLoadedGraph(LoadedGraph& lg) {
  if (!lg.index.ok()) return lg.index.status();
  const GraphManifestEntry& e = lg.entry;
  auto g = std::make_shared<Graph>();
  g->index = std::move(*lg.index);
  g->built_n = e.built_n;
  g->covered_seq = e.covered_seq;
  g->build_seconds = lg.load_seconds;
  g->built_at_us = NowMicros();
  const size_t before = g->index->size();
  LS_ASSIGN_OR_RETURN(std::shared_ptr<Graph> extended,
                      ExtendGraph(e.metric, g, options_.rebuild_min_changes));
  const size_t i = MetricIndex(e.metric);
  graph_tail_inserts_ += extended->index->size() - before;
  if (extended == g) saved_[i] = {true, g, e};  // the file holds what is served
  if (extended != g) save_requested_ = true;
  graphs_[i] = std::move(extended);
  ++graphs_loaded_;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Collection::Graph>> Collection::ExtendGraph(Metric metric,
                                                                           std::shared_ptr<Graph> g,
                                                                           size_t max_tail) {
  const uint32_t n = static_cast<uint32_t>(metas_.size());
  if (g->built_n >= n) return g;
  // At the open, a tail of rebuild_min_changes or more is left to the
  // background builder (searched exactly until then, inserted beside
  // searches), as new items are while serving: inserting it here would hold
  // up the open. The close inserts whatever there is (max_tail = all), so
  // that the next start has nothing to insert.
  if (n - g->built_n >= max_tail) {
    LOG(INFO) << "collection '" << config_.name << "': " << n - g->built_n << " slots since the "
              << MetricName(metric) << " graph was saved; inserting them in the background";
    return g;
  }
  std::vector<uint32_t> slots;
  for (uint32_t s = g->built_n; s < n; ++s) {
    if (live_.Test(s)) slots.push_back(s);
  }
  const auto start = std::chrono::steady_clock::now();
  LS_RETURN_IF_ERROR(g->index->AddOver(Rows(), slots.data(), slots.size(), config_.hnsw_params.seed,
                                       options_.num_threads));
  auto out = std::make_shared<Graph>(*g);
  out->built_n = n;
  out->covered_seq = applied_seq_;
  out->build_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

void Collection::CloseGraphs() {
  {
    std::lock_guard<std::mutex> sl(save_mu_);
    if (!opened_ || abandoned_ || numbering_diverged_ || !config_.hnsw) return;
  }
  {
    // No search can reach the graphs any more: extend them in place.
    std::unique_lock<std::shared_mutex> l(mu_);
    for (Metric m : config_.metrics) {
      std::shared_ptr<const Graph>& slot = graphs_[MetricIndex(m)];
      if (slot == nullptr) continue;
      absl::StatusOr<std::shared_ptr<Graph>> extended =
          ExtendGraph(m, std::const_pointer_cast<Graph>(slot), std::numeric_limits<size_t>::max());
      if (!extended.ok()) {
        LOG(WARNING) << "collection '" << config_.name << "': the " << MetricName(m)
                     << " graph could not take the rows added since its build at close; the "
                     << "saved one is kept: " << extended.status();
        slot.reset();  // its index is in an unspecified state
        continue;
      }
      slot = std::move(*extended);
    }
  }
  if (absl::Status s = SaveGraphs(); !s.ok()) {
    LOG(WARNING) << "collection '" << config_.name
                 << "': HNSW graphs not saved at close (rebuilt or extended at the next start): "
                 << s;
  }
}

}  // namespace latentsearch::index

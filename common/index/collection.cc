#include "common/index/collection.h"

#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"

namespace latentsearch::index {
namespace {

constexpr char kSnapshotFile[] = "snapshot.lss";
constexpr char kWalFile[] = "wal.log";
constexpr char kGraphManifest[] = "hnsw.manifest";
constexpr char kGraphManifestMagic[8] = {'L', 'S', 'H', 'N', 'S', 'W', '0', '1'};

std::string GraphFile(Metric m) { return absl::StrCat("hnsw-", MetricName(m), ".bin"); }

uint32_t FileCrc32(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

// The manifest says which snapshot the saved graphs belong to and how to
// check them: magic | u64 wal_seq | u32 count | count × (u8 metric,
// u32 built_n, u64 bytes, u32 crc32).
struct GraphEntry {
  Metric metric;
  uint32_t built_n;
  uint64_t bytes;
  uint32_t crc;
};

std::string EncodeManifest(uint64_t wal_seq, const std::vector<GraphEntry>& entries) {
  std::string out(kGraphManifestMagic, 8);
  auto put = [&out](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  put(&wal_seq, 8);
  uint32_t count = static_cast<uint32_t>(entries.size());
  put(&count, 4);
  for (const GraphEntry& e : entries) {
    uint8_t m = static_cast<uint8_t>(e.metric);
    put(&m, 1);
    put(&e.built_n, 4);
    put(&e.bytes, 8);
    put(&e.crc, 4);
  }
  uint32_t crc = FileCrc32(out);
  put(&crc, 4);
  return out;
}

bool DecodeManifest(const std::string& b, uint64_t* wal_seq, std::vector<GraphEntry>* entries) {
  if (b.size() < 8 + 8 + 4 + 4 || std::memcmp(b.data(), kGraphManifestMagic, 8) != 0) {
    return false;
  }
  uint32_t crc;
  std::memcpy(&crc, b.data() + b.size() - 4, 4);
  if (FileCrc32(b.substr(0, b.size() - 4)) != crc) return false;
  size_t pos = 8;
  std::memcpy(wal_seq, b.data() + pos, 8);
  pos += 8;
  uint32_t count;
  std::memcpy(&count, b.data() + pos, 4);
  pos += 4;
  if (count > 3 || b.size() != pos + count * 17u + 4) return false;
  for (uint32_t i = 0; i < count; ++i) {
    GraphEntry e;
    uint8_t m = static_cast<uint8_t>(b[pos]);
    if (m > 2) return false;
    e.metric = static_cast<Metric>(m);
    std::memcpy(&e.built_n, b.data() + pos + 1, 4);
    std::memcpy(&e.bytes, b.data() + pos + 5, 8);
    std::memcpy(&e.crc, b.data() + pos + 13, 4);
    pos += 17;
    entries->push_back(e);
  }
  return true;
}

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

size_t MetricIndex(Metric m) { return static_cast<size_t>(m); }

}  // namespace

struct Collection::Graph {
  std::shared_ptr<const HnswIndex> index;
  // The graph holds (some of the) slots < built_n; later slots are searched
  // exactly.
  uint32_t built_n = 0;
  double build_seconds = 0;
  int64_t built_at_us = 0;
};

std::string Collection::SnapshotPath(const std::string& dir) {
  return base::JoinPath(dir, kSnapshotFile);
}

Collection::Collection(CollectionConfig config, CollectionOptions options)
    : config_(std::move(config)), options_(std::move(options)) {
  graphs_.resize(3);
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::Create(const CollectionConfig& config,
                                                               const CollectionOptions& options) {
  LS_RETURN_IF_ERROR(base::MakeDirs(options.dir));
  std::string snap = SnapshotPath(options.dir);
  if (base::FileSize(snap).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("a collection already exists in '", options.dir, "'"));
  }
  SnapshotData data;
  data.config = config;
  std::string wal = base::JoinPath(options.dir, kWalFile);
  // The log first: a crash between the two leaves no snapshot, i.e. no
  // collection, rather than a snapshot with a stale log.
  LS_RETURN_IF_ERROR(ResetWal(wal, config.dim));
  LS_RETURN_IF_ERROR(WriteSnapshot(snap, data));
  return Open(options);
}

absl::StatusOr<std::unique_ptr<Collection>> Collection::Open(const CollectionOptions& options) {
  LS_ASSIGN_OR_RETURN(SnapshotData snap, ReadSnapshot(SnapshotPath(options.dir)));
  auto c = std::unique_ptr<Collection>(new Collection(snap.config, options));
  std::string wal_path = base::JoinPath(options.dir, kWalFile);
  uint64_t valid_bytes = 0;
  std::vector<WalRecord> records;
  absl::StatusOr<WalReadResult> wal = ReadWal(wal_path, snap.config.dim);
  if (wal.ok()) {
    valid_bytes = wal->valid_bytes;
    records = std::move(wal->records);
  } else if (!absl::IsNotFound(wal.status())) {
    return wal.status();
  }
  {
    std::lock_guard<std::mutex> wl(c->write_mu_);
    std::unique_lock<std::shared_mutex> l(c->mu_);
    c->ApplyUpsert(snap.items);
    c->last_seq_ = snap.wal_seq;
  }
  for (const WalRecord& rec : records) {
    if (rec.seq <= snap.wal_seq) continue;  // Already in the snapshot.
    LS_RETURN_IF_ERROR(c->Replay(rec));
  }
  {
    std::lock_guard<std::mutex> wl(c->write_mu_);
    LS_ASSIGN_OR_RETURN(c->wal_, WalWriter::Open(wal_path, snap.config.dim, valid_bytes));
  }
  c->LoadGraphs(snap.wal_seq);
  {
    std::unique_lock<std::shared_mutex> l(c->mu_);
    bool missing = false;
    for (Metric m : c->config_.metrics) missing = missing || c->graphs_[MetricIndex(m)] == nullptr;
    // Loading the snapshot's items asked for a build before the saved
    // graphs were known; decide again now.
    c->rebuild_requested_ = false;
    if (c->config_.hnsw && c->live_count_ > 0 && missing) {
      c->rebuild_requested_ = true;
    } else {
      c->MaybeScheduleRebuild();
    }
  }
  c->builder_ = std::thread([p = c.get()] { p->BuilderLoop(); });
  return c;
}

Collection::~Collection() {
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (builder_.joinable()) builder_.join();
}

absl::Status Collection::Replay(const WalRecord& record) {
  std::lock_guard<std::mutex> wl(write_mu_);
  std::unique_lock<std::shared_mutex> l(mu_);
  if (record.type == WalRecord::Type::kUpsert) {
    ApplyUpsert(record.upserts);
  } else {
    ApplyDelete(record.delete_ids);
  }
  last_seq_ = record.seq;
  return absl::OkStatus();
}

UpsertCounts Collection::ApplyUpsert(const ItemBatch& batch) {
  const size_t dim = config_.dim;
  const bool cosine = std::find(config_.metrics.begin(), config_.metrics.end(), Metric::kCosine) !=
                      config_.metrics.end();
  UpsertCounts counts;
  size_t n = batch.metas.size();
  raw_.reserve(raw_.size() + n * dim);
  for (size_t i = 0; i < n; ++i) {
    const ItemMeta& meta = batch.metas[i];
    const float* v = batch.vectors.data() + i * dim;
    uint32_t slot = static_cast<uint32_t>(metas_.size());
    auto [it, inserted] = slot_of_.try_emplace(meta.id, slot);
    if (!inserted) {
      live_.Reset(it->second);
      ++killed_since_build_;
      it->second = slot;
      ++counts.replaced;
    } else {
      ++counts.inserted;
      ++live_count_;
    }
    metas_.push_back(meta);
    raw_.insert(raw_.end(), v, v + dim);
    if (cosine) {
      size_t off = normalized_.size();
      normalized_.insert(normalized_.end(), v, v + dim);
      NormalizeRows(normalized_.data() + off, 1, dim);
    }
    live_.Resize(metas_.size(), true);
  }
  updated_at_us_ = NowMicros();
  MaybeScheduleRebuild();
  return counts;
}

uint64_t Collection::ApplyDelete(const std::vector<std::string>& ids) {
  uint64_t deleted = 0;
  for (const std::string& id : ids) {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) continue;
    live_.Reset(it->second);
    slot_of_.erase(it);
    ++killed_since_build_;
    --live_count_;
    ++deleted;
  }
  if (deleted > 0) {
    updated_at_us_ = NowMicros();
    MaybeScheduleRebuild();
  }
  return deleted;
}

absl::StatusOr<UpsertCounts> Collection::Upsert(const ItemBatch& batch) {
  if (batch.metas.empty()) return UpsertCounts{};
  UpsertCounts counts;
  bool snapshot_due = false;
  {
    std::lock_guard<std::mutex> wl(write_mu_);
    if (wal_ == nullptr) return write_error_;
    WalRecord rec;
    rec.seq = last_seq_ + 1;
    rec.type = WalRecord::Type::kUpsert;
    rec.upserts = batch;
    LS_RETURN_IF_ERROR(wal_->Append(rec));
    last_seq_ = rec.seq;
    {
      std::unique_lock<std::shared_mutex> l(mu_);
      counts = ApplyUpsert(batch);
    }
    snapshot_due = wal_->size() > options_.auto_snapshot_log_bytes;
    if (snapshot_due) {
      SnapshotInfoData info;
      // A failed automatic snapshot loses nothing: the log still holds it all.
      (void)SnapshotLocked(&info);
    }
  }
  return counts;
}

absl::StatusOr<uint64_t> Collection::Delete(const std::vector<std::string>& ids) {
  std::lock_guard<std::mutex> wl(write_mu_);
  if (wal_ == nullptr) return write_error_;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    bool any = false;
    for (const std::string& id : ids) any = any || slot_of_.contains(id);
    if (!any) return 0;
  }
  WalRecord rec;
  rec.seq = last_seq_ + 1;
  rec.type = WalRecord::Type::kDelete;
  rec.delete_ids = ids;
  LS_RETURN_IF_ERROR(wal_->Append(rec));
  last_seq_ = rec.seq;
  std::unique_lock<std::shared_mutex> l(mu_);
  return ApplyDelete(ids);
}

const float* Collection::Base(Metric metric) const {
  return metric == Metric::kCosine ? normalized_.data() : raw_.data();
}

Bitset Collection::Allowed(const SearchParams& params) const {
  Bitset allowed = live_;
  if (!params.labels.empty()) {
    for (size_t s = 0; s < metas_.size(); ++s) {
      if (!allowed.Test(s)) continue;
      if (std::find(params.labels.begin(), params.labels.end(), metas_[s].label) ==
          params.labels.end()) {
        allowed.Reset(s);
      }
    }
  }
  if (!params.exclude_id.empty()) {
    auto it = slot_of_.find(params.exclude_id);
    if (it != slot_of_.end()) allowed.Reset(it->second);
  }
  return allowed;
}

SearchResult Collection::SearchLocked(const float* query_in, const SearchParams& params) const {
  const size_t dim = config_.dim;
  const size_t n = metas_.size();
  std::vector<float> query(query_in, query_in + dim);
  if (params.metric == Metric::kCosine) NormalizeRows(query.data(), 1, dim);
  // No filter at all (nullptr) when every slot is allowed: the unfiltered
  // scan and graph walk are the fast paths.
  const bool filtered = live_count_ != n || !params.labels.empty() ||
                        (!params.exclude_id.empty() && slot_of_.contains(params.exclude_id));
  Bitset allowed = filtered ? Allowed(params) : Bitset();
  const Bitset* allowed_ptr = filtered ? &allowed : nullptr;
  const float* base = Base(params.metric);

  SearchResult result;
  std::vector<Neighbor> neighbors;
  const Graph* graph = nullptr;
  if (params.hnsw) {
    graph = graphs_[MetricIndex(params.metric)].get();
    if (graph == nullptr || graph->index == nullptr) result.exact_fallback = true;
  }
  bool exact_all = !params.hnsw || result.exact_fallback;
  if (!exact_all) {
    size_t ef = params.ef != 0 ? params.ef : config_.ef_search;
    ef = std::max(ef, params.k);
    result.ef = ef;
    HnswSearchOptions hopts;
    hopts.k = params.k;
    hopts.ef = ef;
    hopts.allowed = allowed_ptr;
    HnswResult h = graph->index->Search(query.data(), hopts);
    if (!h.complete) {
      result.exact_fallback = true;
      exact_all = true;
    } else {
      neighbors = std::move(h.neighbors);
      // Slots added since the graph was built: searched exactly, merged.
      size_t from = graph->built_n;
      if (from < n) {
        Bitset delta(n - from, !filtered);
        for (size_t s = from; filtered && s < n; ++s) {
          if (allowed.Test(s)) delta.Set(s - from);
        }
        if (delta.Count() > 0) {
          ExactSearchOptions eopts;
          eopts.k = params.k;
          eopts.allowed = &delta;
          eopts.num_threads = 1;
          std::vector<std::vector<Neighbor>> extra;
          if (ExactSearch(params.metric, base + from * dim, n - from, dim, query.data(), 1, eopts,
                          &extra)
                  .ok()) {
            for (Neighbor nb : extra[0]) {
              nb.slot += static_cast<uint32_t>(from);
              neighbors.push_back(nb);
            }
          }
        }
        std::sort(neighbors.begin(), neighbors.end(), [](const Neighbor& a, const Neighbor& b) {
          return a.distance != b.distance ? a.distance < b.distance : a.slot < b.slot;
        });
        if (neighbors.size() > params.k) neighbors.resize(params.k);
      }
    }
  }
  if (exact_all) {
    result.ef = 0;
    ExactSearchOptions eopts;
    eopts.k = params.k;
    eopts.allowed = allowed_ptr;
    eopts.num_threads = options_.num_threads;
    std::vector<std::vector<Neighbor>> out;
    if (n > 0 && ExactSearch(params.metric, base, n, dim, query.data(), 1, eopts, &out).ok()) {
      neighbors = std::move(out[0]);
    }
  }
  SearchResult hits = ToResult(neighbors, params);
  result.hits = std::move(hits.hits);
  return result;
}

SearchResult Collection::ToResult(const std::vector<Neighbor>& neighbors,
                                  const SearchParams& params) const {
  const size_t dim = config_.dim;
  SearchResult result;
  result.hits.reserve(neighbors.size());
  for (const Neighbor& nb : neighbors) {
    Hit hit;
    const ItemMeta& meta = metas_[nb.slot];
    hit.id = meta.id;
    hit.label = meta.label;
    hit.uri = meta.uri;
    hit.distance = nb.distance;
    if (params.include_vectors) {
      const float* v = raw_.data() + size_t{nb.slot} * dim;
      hit.vector.assign(v, v + dim);
    }
    result.hits.push_back(std::move(hit));
  }
  return result;
}

SearchResult Collection::Search(const float* query, const SearchParams& params) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return SearchLocked(query, params);
}

std::vector<SearchResult> Collection::SearchBatch(const float* queries, size_t nq,
                                                  const SearchParams& params) const {
  std::vector<SearchResult> out;
  out.reserve(nq);
  std::shared_lock<std::shared_mutex> l(mu_);
  const size_t dim = config_.dim;
  const size_t n = metas_.size();
  if (params.hnsw || nq < 2 || n == 0) {
    for (size_t q = 0; q < nq; ++q) out.push_back(SearchLocked(queries + q * dim, params));
    return out;
  }
  // Exact: one batched scan (blocked, GEMM-style for L2 / cosine) with the
  // filter built once.
  std::vector<float> qs(queries, queries + nq * dim);
  if (params.metric == Metric::kCosine) NormalizeRows(qs.data(), nq, dim);
  const bool filtered = live_count_ != n || !params.labels.empty() ||
                        (!params.exclude_id.empty() && slot_of_.contains(params.exclude_id));
  Bitset allowed = filtered ? Allowed(params) : Bitset();
  ExactSearchOptions eopts;
  eopts.k = params.k;
  eopts.allowed = filtered ? &allowed : nullptr;
  eopts.num_threads = options_.num_threads;
  std::vector<std::vector<Neighbor>> results;
  if (!ExactSearch(params.metric, Base(params.metric), n, dim, qs.data(), nq, eopts, &results)
           .ok()) {
    results.assign(nq, {});
  }
  for (size_t q = 0; q < nq; ++q) out.push_back(ToResult(results[q], params));
  return out;
}

std::optional<std::vector<float>> Collection::GetVector(const std::string& id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  const float* v = raw_.data() + size_t{it->second} * config_.dim;
  return std::vector<float>(v, v + config_.dim);
}

std::optional<ItemMeta> Collection::GetMeta(const std::string& id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  return metas_[it->second];
}

std::vector<std::string> Collection::ListIds() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<std::string> ids;
  ids.reserve(slot_of_.size());
  for (const auto& [id, slot] : slot_of_) ids.push_back(id);
  return ids;
}

CollectionStats Collection::Stats() const {
  CollectionStats stats;
  std::shared_lock<std::shared_mutex> l(mu_);
  stats.item_count = live_count_;
  stats.deleted_count = metas_.size() - live_count_;
  stats.updated_at_us = updated_at_us_;
  for (const char* f : {kSnapshotFile, kWalFile}) {
    absl::StatusOr<uint64_t> size = base::FileSize(base::JoinPath(options_.dir, f));
    if (size.ok()) stats.disk_bytes += *size;
  }
  const uint64_t vector_bytes = metas_.size() * uint64_t{config_.dim} * sizeof(float);
  for (Metric m : config_.metrics) {
    IndexStatsEntry exact;
    exact.metric = m;
    exact.items = live_count_;
    exact.memory_bytes = vector_bytes;
    exact.built_at_us = updated_at_us_;
    stats.indexes.push_back(exact);
    if (!config_.hnsw) continue;
    IndexStatsEntry h;
    h.metric = m;
    h.hnsw = true;
    const Graph* g = graphs_[MetricIndex(m)].get();
    bool fresh = g != nullptr && g->built_n == metas_.size() && killed_since_build_ == 0;
    h.state = building_ ? IndexState::kBuilding
                        : (fresh || live_count_ == 0 ? IndexState::kReady : IndexState::kStale);
    if (g != nullptr && g->index != nullptr) {
      h.items = g->index->size();
      h.memory_bytes = g->index->memory_bytes();
      h.last_build_seconds = g->build_seconds;
      h.built_at_us = g->built_at_us;
    }
    stats.indexes.push_back(h);
  }
  return stats;
}

void Collection::MaybeScheduleRebuild() {
  if (!config_.hnsw) return;
  size_t built = 0;
  for (const auto& g : graphs_) {
    if (g != nullptr) built = std::max<size_t>(built, g->built_n);
  }
  size_t changes = (metas_.size() - built) + killed_since_build_;
  size_t threshold =
      std::max<size_t>(options_.rebuild_min_changes,
                       static_cast<size_t>(options_.rebuild_fraction * static_cast<double>(built)));
  if (changes >= threshold || (built == 0 && !metas_.empty())) {
    rebuild_requested_ = true;
    cv_.notify_all();
  }
}

void Collection::BuilderLoop() {
  while (true) {
    // Wait for work; copy what the build needs under the reader lock.
    std::vector<float> raw, normalized;
    std::vector<uint32_t> slots;
    uint32_t n = 0;
    uint64_t killed_at_copy = 0;
    {
      std::unique_lock<std::shared_mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || rebuild_requested_; });
      if (stopping_) return;
      rebuild_requested_ = false;
      building_ = true;
      raw = raw_;
      normalized = normalized_;
      n = static_cast<uint32_t>(metas_.size());
      killed_at_copy = killed_since_build_;
      slots.reserve(live_count_);
      for (uint32_t s = 0; s < n; ++s) {
        if (live_.Test(s)) slots.push_back(s);
      }
    }
    std::vector<std::shared_ptr<const Graph>> built(3);
    bool failed = false;
    for (Metric m : config_.metrics) {
      auto start = std::chrono::steady_clock::now();
      const float* base = m == Metric::kCosine ? normalized.data() : raw.data();
      absl::Status pre = options_.before_build ? options_.before_build(m) : absl::OkStatus();
      absl::StatusOr<std::unique_ptr<HnswIndex>> index =
          pre.ok() ? HnswIndex::Build(m, config_.dim, base, slots.data(), slots.size(),
                                      config_.hnsw_params, options_.num_threads)
                   : absl::StatusOr<std::unique_ptr<HnswIndex>>(pre);
      if (!index.ok()) {  // Searches keep falling back to exact.
        failed = true;
        std::fprintf(stderr, "collection '%s': HNSW build (%s, %zu items) failed: %s\n",
                     config_.name.c_str(), std::string(MetricName(m)).c_str(), slots.size(),
                     index.status().ToString().c_str());
        continue;
      }
      auto g = std::make_shared<Graph>();
      g->index = std::move(*index);
      g->built_n = n;
      g->build_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      g->built_at_us = NowMicros();
      built[MetricIndex(m)] = std::move(g);
      std::shared_lock<std::shared_mutex> l(mu_);
      if (stopping_) break;
    }
    std::unique_lock<std::shared_mutex> l(mu_);
    for (size_t i = 0; i < 3; ++i) {
      if (built[i] != nullptr) graphs_[i] = std::move(built[i]);
    }
    killed_since_build_ -= std::min(killed_since_build_, killed_at_copy);
    build_failures_ = failed ? build_failures_ + 1 : 0;
    MaybeScheduleRebuild();
    if (failed && !stopping_) {
      // Back off before retrying: a build that failed (memory) would fail
      // again at once, copying every vector each time.
      absl::Duration delay = options_.rebuild_retry_initial;
      for (int i = 1; i < build_failures_ && delay < options_.rebuild_retry_max; ++i) {
        delay *= 2;
      }
      delay = std::min(delay, options_.rebuild_retry_max);
      if (delay > absl::ZeroDuration()) {
        backing_off_ = true;
        building_ = false;
        cv_.notify_all();
        const auto until = absl::ToChronoTime(absl::Now() + delay);
        cv_.wait_until(l, until, [this] { return stopping_; });
        backing_off_ = false;
      }
    }
    building_ = false;
    cv_.notify_all();
    if (stopping_) return;
  }
}

void Collection::WaitForIndexes() const {
  std::unique_lock<std::shared_mutex> l(mu_);
  cv_.wait(l, [this] { return stopping_ || backing_off_ || (!rebuild_requested_ && !building_); });
}

absl::Status Collection::SnapshotLocked(SnapshotInfoData* info) {
  SnapshotData data;
  data.config = config_;
  data.wal_seq = last_seq_;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    const size_t dim = config_.dim;
    data.items.metas.reserve(live_count_);
    data.items.vectors.reserve(live_count_ * dim);
    for (size_t s = 0; s < metas_.size(); ++s) {
      if (!live_.Test(s)) continue;
      data.items.metas.push_back(metas_[s]);
      const float* v = raw_.data() + s * dim;
      data.items.vectors.insert(data.items.vectors.end(), v, v + dim);
    }
  }
  std::string path = SnapshotPath(options_.dir);
  std::string bytes = EncodeSnapshot(data);
  LS_RETURN_IF_ERROR(base::WriteFileAtomically(path, bytes));
  // The snapshot now holds every record: restart the log. A crash between
  // the two steps is harmless (replay skips records <= wal_seq).
  // If replacing the log fails, the old log is still current and wal_ still
  // appends to it. If the new log cannot be opened after the swap, writes
  // are refused from now on rather than appended to a file that is no
  // longer the log.
  std::string wal_path = base::JoinPath(options_.dir, kWalFile);
  LS_RETURN_IF_ERROR(ResetWal(wal_path, config_.dim));
  absl::StatusOr<std::unique_ptr<WalWriter>> wal =
      WalWriter::Open(wal_path, config_.dim, kWalHeaderSize);
  if (!wal.ok()) {
    wal_.reset();
    write_error_ = absl::UnavailableError(
        absl::StrCat("collection '", config_.name, "' refuses writes after a log failure (",
                     wal.status().message(), "); restart the server"));
    return wal.status();
  }
  wal_ = std::move(*wal);
  SaveGraphs(data.wal_seq);
  info->collection = config_.name;
  info->path = path;
  info->bytes = bytes.size();
  info->items = data.items.metas.size();
  info->written_at_us = NowMicros();
  return absl::OkStatus();
}

void Collection::SaveGraphs(uint64_t wal_seq) {
  const std::string manifest = base::JoinPath(options_.dir, kGraphManifest);
  std::vector<std::pair<Metric, std::shared_ptr<const Graph>>> graphs;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    // Graphs label items by slot; the snapshot renumbers slots unless none
    // is dead. Only then do saved graphs match the snapshot.
    if (!config_.hnsw || metas_.size() != live_count_ || killed_since_build_ != 0) {
      graphs.clear();
    } else {
      for (Metric m : config_.metrics) {
        if (graphs_[MetricIndex(m)] != nullptr) graphs.emplace_back(m, graphs_[MetricIndex(m)]);
      }
    }
  }
  std::vector<GraphEntry> entries;
  for (const auto& [metric, graph] : graphs) {
    std::string path = base::JoinPath(options_.dir, GraphFile(metric));
    std::string tmp = path + ".tmp";
    if (!graph->index->Save(tmp).ok()) continue;
    absl::StatusOr<std::string> bytes = base::ReadFile(tmp);
    if (!bytes.ok() || std::rename(tmp.c_str(), path.c_str()) != 0) continue;
    entries.push_back({metric, graph->built_n, bytes->size(), FileCrc32(*bytes)});
  }
  // The manifest is published last; without a valid one, graphs are rebuilt.
  (void)base::SyncDir(options_.dir);
  (void)base::WriteFileAtomically(manifest, EncodeManifest(wal_seq, entries));
}

void Collection::LoadGraphs(uint64_t snapshot_seq) {
  if (!config_.hnsw) return;
  absl::StatusOr<std::string> manifest =
      base::ReadFile(base::JoinPath(options_.dir, kGraphManifest));
  uint64_t seq = 0;
  std::vector<GraphEntry> entries;
  if (!manifest.ok() || !DecodeManifest(*manifest, &seq, &entries) || seq != snapshot_seq) {
    return;
  }
  for (const GraphEntry& e : entries) {
    std::string path = base::JoinPath(options_.dir, GraphFile(e.metric));
    absl::StatusOr<std::string> bytes = base::ReadFile(path);
    if (!bytes.ok() || bytes->size() != e.bytes || FileCrc32(*bytes) != e.crc) continue;
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<HnswIndex>> index = HnswIndex::Load(path, e.metric, config_.dim);
    if (!index.ok()) continue;
    auto g = std::make_shared<Graph>();
    g->index = std::move(*index);
    g->built_n = e.built_n;
    g->build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    g->built_at_us = NowMicros();
    std::unique_lock<std::shared_mutex> l(mu_);
    if (e.built_n <= metas_.size()) graphs_[MetricIndex(e.metric)] = std::move(g);
  }
}

absl::StatusOr<SnapshotInfoData> Collection::Snapshot() {
  std::lock_guard<std::mutex> wl(write_mu_);
  SnapshotInfoData info;
  LS_RETURN_IF_ERROR(SnapshotLocked(&info));
  return info;
}

}  // namespace latentsearch::index

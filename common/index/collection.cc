#include "common/index/collection.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/index/collection_persistence.h"

namespace latentsearch::index {
namespace {

constexpr char kSnapshotFile[] = "snapshot.lss";
constexpr char kWalFile[] = "wal.log";

}  // namespace

int64_t Collection::NowMicros() { return absl::ToUnixMicros(absl::Now()); }

std::string Collection::SnapshotPath(const std::string& dir) {
  return base::JoinPath(dir, kSnapshotFile);
}

Collection::Collection(CollectionConfig config, CollectionOptions options)
    : config_(std::move(config)), options_(std::move(options)), by_id_(SlotIdLess{&metas_}) {
  graphs_.resize(kNumMetrics);
  saved_.resize(kNumMetrics);
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
  const auto start = std::chrono::steady_clock::now();
  LS_ASSIGN_OR_RETURN(SnapshotData snap, ReadSnapshot(SnapshotPath(options.dir)));
  auto c = std::unique_ptr<Collection>(new Collection(snap.config, options));
  LS_RETURN_IF_ERROR(c->vectors_.Init(snap.config.dim, options.max_vector_bytes));
  if (!c->vectors_.HasRoomFor(snap.items.metas.size())) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "collection '", snap.config.name, "': its snapshot holds ", snap.items.metas.size(),
        " vectors, more than max_vector_bytes lets it hold (", c->vectors_.capacity(), ")"));
  }
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
  std::vector<ReplayMark> marks;
  {
    std::lock_guard<std::mutex> wl(c->write_mu_);
    std::lock_guard<std::mutex> sl(c->save_mu_);
    std::unique_lock<std::shared_mutex> l(c->mu_);
    c->LoadSnapshot(snap);
    c->last_seq_ = snap.wal_seq;
    c->applied_seq_ = snap.wal_seq;
    c->numbering_base_seq_ = snap.wal_seq;
    marks.push_back({snap.wal_seq, static_cast<uint32_t>(c->metas_.size()), 0});
  }
  for (const WalRecord& rec : records) {
    if (rec.seq <= snap.wal_seq) continue;  // Already in the snapshot.
    LS_RETURN_IF_ERROR(c->Replay(rec));
    std::shared_lock<std::shared_mutex> l(c->mu_);
    marks.push_back({rec.seq, static_cast<uint32_t>(c->metas_.size()), c->killed_since_build_});
  }
  records.clear();
  {
    std::lock_guard<std::mutex> wl(c->write_mu_);
    LS_ASSIGN_OR_RETURN(c->wal_, WalWriter::Open(wal_path, snap.config.dim, valid_bytes));
  }
  const auto loading = std::chrono::steady_clock::now();
  if (absl::Status s = c->LoadGraphs(marks); !s.ok()) {
    LOG(WARNING) << "collection '" << c->config_.name
                 << "': saved HNSW graphs not used, rebuilding the missing ones: " << s;
  }
  c->ScheduleAfterOpen();
  const auto now = std::chrono::steady_clock::now();
  CollectionStats stats = c->Stats();
  size_t to_build = 0;
  for (const IndexStatsEntry& e : stats.indexes) to_build += e.hnsw && e.items == 0;
  // The line a restart is timed by (tests/bench/index, docs).
  LOG(INFO) << "collection '" << c->config_.name << "': opened " << stats.item_count << " items in "
            << std::chrono::duration<double>(now - start).count() << " s; " << stats.graphs_loaded
            << " HNSW graphs loaded in " << std::chrono::duration<double>(now - loading).count()
            << " s (" << stats.graph_tail_inserts << " log-tail inserts), "
            << (stats.item_count > 0 ? to_build : 0) << " to build";
  {
    std::lock_guard<std::mutex> sl(c->save_mu_);
    c->opened_ = true;
  }
  c->builder_ = std::thread([p = c.get()] { p->BuilderLoop(); });
  return c;
}

void Collection::ScheduleAfterOpen() {
  std::unique_lock<std::shared_mutex> l(mu_);
  bool missing = false;
  for (Metric m : config_.metrics) missing = missing || graphs_[MetricIndex(m)] == nullptr;
  // Loading the snapshot's items asked for a build before the saved graphs
  // were known; decide again now.
  rebuild_requested_ = false;
  if (config_.hnsw && live_count_ > 0 && missing) {
    rebuild_requested_ = true;
  } else {
    MaybeScheduleRebuild();
  }
}

Collection::~Collection() {
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (builder_.joinable()) builder_.join();
  CloseGraphs();
}

void Collection::Abandon() {
  std::lock_guard<std::mutex> sl(save_mu_);
  abandoned_ = true;
}

absl::Status Collection::Replay(const WalRecord& record) {
  std::lock_guard<std::mutex> wl(write_mu_);
  LS_RETURN_IF_ERROR(ReserveRows(record.type == WalRecord::Type::kUpsert
                                     ? record.upserts.metas.size()
                                     : record.versioned.upserts.metas.size()));
  std::unique_lock<std::shared_mutex> l(mu_);
  if (record.type == WalRecord::Type::kUpsert) {
    ApplyUpsert(record.upserts);
  } else if (record.type == WalRecord::Type::kDelete) {
    ApplyDelete(record.delete_ids);
  } else {
    // Deterministic: the same state and batch give the same plan as when
    // the record was written.
    ApplyPlan(record.versioned, PlanVersioned(record.versioned));
  }
  last_seq_ = record.seq;
  applied_seq_ = record.seq;
  return absl::OkStatus();
}

void Collection::LoadSnapshot(const SnapshotData& snap) {
  const size_t dim = config_.dim;
  const size_t n = snap.items.metas.size();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t version = snap.versions.empty() ? 0 : snap.versions[i];
    PutItem(snap.items.metas[i], snap.items.vectors.data() + i * dim, version);
    max_version_ = std::max(max_version_, version);
  }
  // DecodeSnapshot checked that no tombstone is a live item.
  for (const Tombstone& t : snap.tombstones) {
    SetTombstone(t.id, t.version);
    max_version_ = std::max(max_version_, t.version);
  }
  max_version_ = std::max(max_version_, snap.max_version);
  updated_at_us_ = NowMicros();
  MaybeScheduleRebuild();
}

bool Collection::PutItem(const ItemMeta& meta, const float* v, uint64_t version) {
  const size_t dim = config_.dim;
  const uint32_t slot = static_cast<uint32_t>(metas_.size());
  auto [it, inserted] = slot_of_.try_emplace(meta.id, slot);
  auto hint = by_id_.end();
  if (!inserted) {
    const uint32_t old = it->second;
    digest_ ^= ReplicaEntryHash(meta.id, versions_[old], false);
    live_.Reset(old);
    hint = by_id_.erase(by_id_.find(old));
    ++killed_since_build_;
    it->second = slot;
  } else {
    ++live_count_;
    if (!tombstones_.empty()) EraseTombstone(meta.id);
  }
  metas_.push_back(meta);
  versions_.push_back(version);
  // Room was reserved before the write was logged (ReserveRows), so this
  // cannot fail; if it still did, the process must not go on without the
  // vector.
  if (absl::Status s = vectors_.Append(v, 1); !s.ok()) {
    LOG(FATAL) << "collection '" << config_.name << "': " << s;
  }
  if (std::find(config_.metrics.begin(), config_.metrics.end(), Metric::kCosine) !=
      config_.metrics.end()) {
    inv_norms_.push_back(InverseNorm(v, dim));
  }
  live_.Resize(metas_.size(), true);
  if (inserted) {
    by_id_.insert(slot);
  } else {
    by_id_.insert(hint, slot);  // Where the old slot was: amortised O(1).
  }
  digest_ ^= ReplicaEntryHash(meta.id, version, false);
  return !inserted;
}

bool Collection::KillItem(const std::string& id) {
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return false;
  const uint32_t slot = it->second;
  digest_ ^= ReplicaEntryHash(id, versions_[slot], false);
  live_.Reset(slot);
  by_id_.erase(slot);
  slot_of_.erase(it);
  ++killed_since_build_;
  --live_count_;
  return true;
}

void Collection::SetTombstone(const std::string& id, uint64_t version) {
  auto [it, inserted] = tombstones_.try_emplace(id, version);
  if (!inserted) {
    digest_ ^= ReplicaEntryHash(id, it->second, true);
    it->second = version;
  }
  digest_ ^= ReplicaEntryHash(id, version, true);
}

void Collection::EraseTombstone(absl::string_view id) {
  auto it = tombstones_.find(id);
  if (it == tombstones_.end()) return;
  digest_ ^= ReplicaEntryHash(id, it->second, true);
  tombstones_.erase(it);
}

UpsertCounts Collection::ApplyUpsert(const ItemBatch& batch) {
  const size_t dim = config_.dim;
  UpsertCounts counts;
  size_t n = batch.metas.size();
  for (size_t i = 0; i < n; ++i) {
    if (PutItem(batch.metas[i], batch.vectors.data() + i * dim, 0)) {
      ++counts.replaced;
    } else {
      ++counts.inserted;
    }
  }
  updated_at_us_ = NowMicros();
  MaybeScheduleRebuild();
  return counts;
}

uint64_t Collection::ApplyDelete(const std::vector<std::string>& ids) {
  uint64_t deleted = 0;
  for (const std::string& id : ids) {
    if (KillItem(id)) ++deleted;
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
  {
    std::lock_guard<std::mutex> wl(write_mu_);
    if (wal_ == nullptr) return write_error_;
    LS_RETURN_IF_ERROR(ReserveRows(batch.metas.size()));
    WalRecord rec;
    rec.seq = last_seq_ + 1;
    rec.type = WalRecord::Type::kUpsert;
    rec.upserts = batch;
    LS_RETURN_IF_ERROR(wal_->Append(rec));
    last_seq_ = rec.seq;
    {
      std::unique_lock<std::shared_mutex> l(mu_);
      counts = ApplyUpsert(batch);
      applied_seq_ = rec.seq;
    }
    MaybeAutoSnapshot();
  }
  return counts;
}

void Collection::MaybeAutoSnapshot() {
  if (wal_ == nullptr || wal_->size() <= options_.auto_snapshot_log_bytes) return;
  SnapshotInfoData info;
  // A failed automatic snapshot loses nothing: the log still holds it all.
  if (absl::Status s = SnapshotLocked(&info); !s.ok()) {
    LOG(WARNING) << "collection '" << config_.name
                 << "': automatic snapshot failed, the log keeps growing: " << s;
  }
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
  applied_seq_ = rec.seq;
  return ApplyDelete(ids);
}

RowSource Collection::Rows() const { return RowSource{vectors_.data(), vectors_.size()}; }

const float* Collection::RowScale(Metric metric) const {
  return metric == Metric::kCosine ? inv_norms_.data() : nullptr;
}

absl::Status Collection::ReserveRows(size_t count) {
  absl::Status s = vectors_.Reserve(count);
  if (!s.ok())
    return absl::Status(s.code(), absl::StrCat("collection '", config_.name, "': ", s.message()));
  return s;
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

  SearchResult result;
  std::vector<Neighbor> neighbors;
  bool exact_all = !params.hnsw;
  if (params.hnsw) {
    const Graph* graph = graphs_[MetricIndex(params.metric)].get();
    exact_all = graph == nullptr || graph->index == nullptr ||
                !SearchGraph(*graph, query.data(), params, allowed_ptr, &result, &neighbors);
    result.exact_fallback = exact_all;
  }
  if (exact_all) {
    result.ef = 0;
    ExactSearchOptions eopts;
    eopts.k = params.k;
    eopts.allowed = allowed_ptr;
    eopts.num_threads = options_.num_threads;
    eopts.row_scale = RowScale(params.metric);
    std::vector<std::vector<Neighbor>> out;
    if (n > 0 &&
        ExactSearch(params.metric, vectors_.data(), n, dim, query.data(), 1, eopts, &out).ok()) {
      neighbors = std::move(out[0]);
    }
  }
  SearchResult hits = ToResult(neighbors, params);
  result.hits = std::move(hits.hits);
  return result;
}

bool Collection::SearchGraph(const Graph& graph, const float* query, const SearchParams& params,
                             const Bitset* allowed, SearchResult* result,
                             std::vector<Neighbor>* neighbors) const {
  const size_t dim = config_.dim;
  const size_t n = metas_.size();
  size_t ef = params.ef != 0 ? params.ef : config_.ef_search;
  ef = std::max(ef, params.k);
  result->ef = ef;
  HnswSearchOptions hopts;
  hopts.k = params.k;
  hopts.ef = ef;
  hopts.allowed = allowed;
  HnswResult h = graph.index->Search(query, hopts);
  if (!h.complete) return false;
  // Slots from built_n on: searched exactly, merged. The graph may already
  // hold some of them (the builder inserts them before publishing a Graph
  // that covers them); those answers are left to the exact scan.
  const size_t from = graph.built_n;
  *neighbors = std::move(h.neighbors);
  neighbors->erase(std::remove_if(neighbors->begin(), neighbors->end(),
                                  [from](const Neighbor& nb) { return nb.slot >= from; }),
                   neighbors->end());
  if (from >= n) return true;
  Bitset delta(n - from, allowed == nullptr);
  for (size_t s = from; allowed != nullptr && s < n; ++s) {
    if (allowed->Test(s)) delta.Set(s - from);
  }
  if (delta.Count() > 0) {
    ExactSearchOptions eopts;
    eopts.k = params.k;
    eopts.allowed = &delta;
    eopts.num_threads = 1;
    const float* scale = RowScale(params.metric);
    eopts.row_scale = scale != nullptr ? scale + from : nullptr;
    std::vector<std::vector<Neighbor>> extra;
    if (ExactSearch(params.metric, vectors_.row(from), n - from, dim, query, 1, eopts, &extra)
            .ok()) {
      for (Neighbor nb : extra[0]) {
        nb.slot += static_cast<uint32_t>(from);
        neighbors->push_back(nb);
      }
    }
  }
  std::sort(neighbors->begin(), neighbors->end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.slot < b.slot;
  });
  if (neighbors->size() > params.k) neighbors->resize(params.k);
  return true;
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
      const float* v = vectors_.row(nb.slot);
      hit.vector.assign(v, v + dim);
    }
    result.hits.push_back(std::move(hit));
  }
  // The contract (search.proto): closest first, ties broken by id. The
  // indexes order equal distances by slot; a cluster router merging shards
  // orders them by id, so one node must too.
  std::stable_sort(result.hits.begin(), result.hits.end(), [](const Hit& a, const Hit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
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
  eopts.row_scale = RowScale(params.metric);
  if (!ExactSearch(params.metric, vectors_.data(), n, dim, qs.data(), nq, eopts, &results).ok()) {
    results.assign(nq, {});
  }
  for (size_t q = 0; q < nq; ++q) out.push_back(ToResult(results[q], params));
  return out;
}

std::optional<std::vector<float>> Collection::GetVector(const std::string& id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = slot_of_.find(id);
  if (it == slot_of_.end()) return std::nullopt;
  const float* v = vectors_.row(it->second);
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
  stats.graphs_built = graphs_built_;
  stats.graphs_loaded = graphs_loaded_;
  stats.graph_tail_inserts = graph_tail_inserts_;
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

absl::Status Collection::SnapshotLocked(SnapshotInfoData* info) {
  SnapshotData data;
  data.config = config_;
  data.wal_seq = last_seq_;
  bool renumbers = false;  // dead slots are left out: slots move
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    renumbers = live_count_ != metas_.size();
    const size_t dim = config_.dim;
    data.items.metas.reserve(live_count_);
    data.items.vectors.reserve(live_count_ * dim);
    data.versions.reserve(live_count_);
    for (size_t s = 0; s < metas_.size(); ++s) {
      if (!live_.Test(s)) continue;
      data.items.metas.push_back(metas_[s]);
      data.versions.push_back(versions_[s]);
      const float* v = vectors_.row(s);
      data.items.vectors.insert(data.items.vectors.end(), v, v + dim);
    }
    // Kept: see storage.h on tombstones.
    data.tombstones.reserve(tombstones_.size());
    for (const auto& [id, version] : tombstones_) data.tombstones.push_back({id, version});
    data.max_version = max_version_;
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
  if (absl::Status s = RebaseGraphs(data.wal_seq, renumbers); !s.ok()) {
    // The snapshot itself is complete; only the restart is slower.
    LOG(WARNING) << "collection '" << config_.name
                 << "': snapshot written, but its HNSW graphs will be rebuilt at the next "
                 << "start: " << s;
  }
  info->collection = config_.name;
  info->path = path;
  info->bytes = bytes.size();
  info->items = data.items.metas.size();
  info->written_at_us = NowMicros();
  return absl::OkStatus();
}

absl::StatusOr<SnapshotInfoData> Collection::Snapshot() {
  std::lock_guard<std::mutex> wl(write_mu_);
  SnapshotInfoData info;
  LS_RETURN_IF_ERROR(SnapshotLocked(&info));
  return info;
}

}  // namespace latentsearch::index

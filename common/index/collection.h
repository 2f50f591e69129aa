// A named collection of vectors: items (id, vector, label, uri), an exact
// index and (optionally) an HNSW graph per metric, persisted under its own
// directory (storage.h: snapshot + write-ahead log).
//
// Serving model (STYLE.md point 10): vectors live in append-only slots of a
// VectorStore (fixed addresses; one copy of each vector, which every
// metric's graph and the exact scans read in place; cosine uses each
// vector's stored inverse norm instead of a normalised copy). An upsert of
// an existing id appends a new slot and marks the old one dead; a delete
// marks it dead. Each metric's HNSW graph covers the slots below its
// built_n; slots added later are searched exactly and merged, and dead
// slots are filtered out, so answers stay correct whatever the builder is
// doing. The builder thread inserts new slots into the serving graphs once
// rebuild_min_changes have accumulated (HnswIndex::AddOver, in small
// batches under the graph's own writer-first lock, while searches go on),
// then publishes the graph with the higher built_n; only kills (dead rows
// the graph still holds) make it build new graphs aside, after
// max(rebuild_min_changes, rebuild_fraction × graph) of them, and swap them
// in with one pointer change. Searches never wait for a build: they hold a
// reader lock that writers take only to append.
//
// Versions (replicas of a sharded collection, docs/cluster.md): every live
// item carries the version of the write that put it there, and
// ApplyVersioned keeps a tombstone (id -> version) for each winning delete,
// so that last-writer-wins (versioning.h) gives every replica the same final
// state whatever order and batching its writes arrive in. The unversioned
// Upsert/Delete of a standalone server always apply: an upsert records
// version 0 and removes a tombstone of its id, a delete keeps no tombstone
// (so a standalone collection never holds tombstones). Mixing both kinds on
// one replica gives up convergence. Tombstones are kept until a future
// garbage collection with a grace period; nothing drops them yet.
// Summary() keeps an order-independent digest of (id, version, deleted),
// maintained per write; Scan() pages through items and tombstones in id
// order from an ordered index of the live slots (absl::btree_set of slot
// numbers ordered by their item's id: about 5 bytes per live item, measured
// at 250,000 and 1,000,000 items, O(log n) per write, O(log n + page) per
// page) and tombstones kept in an absl::btree_map. Versions cost 8 bytes
// per slot.
//
// Durability: Upsert/Delete/ApplyVersioned append to the log and fsync
// before applying and returning; Snapshot() compacts the items (with their
// versions, and the tombstones) into a new snapshot and restarts the log.
// HNSW graphs are saved (checksummed, atomically, with a manifest naming
// the slot numbering and log position they cover; collection_persistence.h)
// after every background build, and on close after the rows added since
// the last build are inserted into them. Open loads the saved graphs and
// inserts the log tail they do not cover into them before serving, so a
// clean restart builds nothing and a crash costs the inserts of the tail
// since the last save. A graph file that is missing, damaged or does not
// match the snapshot and log is logged and rebuilt in the background
// (searches answer exactly until then, flagged `exact_fallback`). A
// snapshot taken while dead slots exist renumbers the slots on disk; graphs
// built in this process can then no longer be saved and are rebuilt after
// the next restart.
//
// Code layout: collection.cc (items, writes, searches, snapshots),
// collection_versioned.cc (versioned writes, summary, ordered scans),
// collection_rebuild.cc (the background builder and its back-off),
// collection_persistence.cc (saving / loading the graphs).
//
// Failures the collection recovers from (a graph that cannot be saved or
// loaded, a failed build, a failed automatic snapshot) are logged at
// WARNING with their cause (common/base/logging.h).
//
// Error codes: the Collection trusts its inputs (services/search validates
// requests first and emits INVALID_ARGUMENT / NOT_FOUND); it returns DATA_LOSS
// for corrupt files, UNKNOWN/RESOURCE_EXHAUSTED for I/O failures and INTERNAL
// for a versioned batch whose version counts do not match its writes.
// Thread-safety: all public methods are thread-safe.
#ifndef LATENTSEARCH_COMMON_INDEX_COLLECTION_H_
#define LATENTSEARCH_COMMON_INDEX_COLLECTION_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/index/bitset.h"
#include "common/index/collection_persistence.h"
#include "common/index/collection_types.h"
#include "common/index/exact.h"
#include "common/index/hnsw.h"
#include "common/index/metric.h"
#include "common/index/storage.h"
#include "common/index/vector_store.h"
#include "common/index/versioning.h"

namespace latentsearch::base {
class FileOps;
}  // namespace latentsearch::base

namespace latentsearch::index {

struct CollectionOptions {
  // The collection's own directory (created if missing).
  std::string dir;
  // Slots added since the serving graphs were built are inserted into them
  // once there are this many. A rebuild starts once this many slots were
  // killed since the graphs were built, or more than `rebuild_fraction` of
  // the graph, whichever is larger.
  size_t rebuild_min_changes = 1000;
  double rebuild_fraction = 0.1;
  // Threads for HNSW builds and exact scans (0 = hardware concurrency).
  int num_threads = 0;
  // Address space reserved for the collection's vectors (VectorStore); the
  // most vectors it can hold is this / (dim · 4). A write past it fails
  // with RESOURCE_EXHAUSTED before it is logged.
  uint64_t max_vector_bytes = uint64_t{64} << 30;
  // Snapshot automatically once the log exceeds this many bytes.
  uint64_t auto_snapshot_log_bytes = 256ull << 20;
  // After a failed HNSW build (e.g. out of memory) the builder waits this
  // long before the next attempt, doubling per consecutive failure up to
  // rebuild_retry_max; searches answer exactly meanwhile. 0 = retry at
  // once.
  absl::Duration rebuild_retry_initial = absl::Seconds(1);
  absl::Duration rebuild_retry_max = absl::Minutes(5);
  // Called before each metric's graph build; an error fails that build as
  // HnswIndex::Build's would (tests inject failures with it). Empty = none.
  std::function<absl::Status(Metric)> before_build;
  // File operations for saving HNSW graphs (tests record or fail them);
  // nullptr = the real file system. Not owned; must outlive the collection.
  base::FileOps* file_ops = nullptr;
};

struct SearchParams {
  Metric metric = Metric::kL2;
  bool hnsw = false;
  // Neighbours wanted, >= 1.
  size_t k = 10;
  // HNSW candidate list size; 0 = the collection's ef_search. Raised to k.
  size_t ef = 0;
  // Only items with one of these labels; empty = all.
  std::vector<int32_t> labels;
  // Leave this item out of the answer ("" = none).
  std::string exclude_id;
  bool include_vectors = false;
};

struct Hit {
  std::string id;
  float distance = 0;
  int32_t label = -1;
  std::string uri;
  std::vector<float> vector;  // only with include_vectors
};

struct SearchResult {
  std::vector<Hit> hits;  // closest first
  // True when an HNSW request was answered exactly (no graph yet, or a
  // selective filter).
  bool exact_fallback = false;
  // ef used by HNSW (0 for exact).
  size_t ef = 0;
};

enum class IndexState { kReady, kBuilding, kStale };

struct IndexStatsEntry {
  Metric metric = Metric::kL2;
  bool hnsw = false;
  IndexState state = IndexState::kReady;
  uint64_t items = 0;
  uint64_t memory_bytes = 0;
  double last_build_seconds = 0;
  int64_t built_at_us = 0;
};

struct CollectionStats {
  uint64_t item_count = 0;     // live items
  uint64_t deleted_count = 0;  // dead slots not yet compacted
  int64_t updated_at_us = 0;
  uint64_t disk_bytes = 0;
  std::vector<IndexStatsEntry> indexes;
  // Since the collection was opened: HNSW graphs built from scratch, graphs
  // loaded from disk at the open, and items inserted into loaded graphs at
  // the open (the log tail since they were saved).
  uint64_t graphs_built = 0;
  uint64_t graphs_loaded = 0;
  uint64_t graph_tail_inserts = 0;
};

struct SnapshotInfoData {
  std::string collection;
  std::string path;
  uint64_t bytes = 0;
  uint64_t items = 0;
  int64_t written_at_us = 0;
};

struct UpsertCounts {
  uint64_t inserted = 0;
  uint64_t replaced = 0;
};

class Collection {
 public:
  // Creates a new collection in options.dir (which must not hold one):
  // writes the initial snapshot and an empty log before returning.
  static absl::StatusOr<std::unique_ptr<Collection>> Create(const CollectionConfig& config,
                                                            const CollectionOptions& options);
  // Opens the collection in options.dir: snapshot, then log replay (a torn
  // last log record is cut off). DATA_LOSS naming the file for corruption.
  static absl::StatusOr<std::unique_ptr<Collection>> Open(const CollectionOptions& options);

  // Stops the builder thread, inserts the rows added since the last build
  // into the graphs and saves them (unless Abandon() was called); failures
  // are logged.
  ~Collection();
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  const CollectionConfig& config() const { return config_; }

  // `batch` vectors must have config().dim finite floats each (validated by
  // the caller). Durable when this returns OK. Ids repeated within the batch:
  // the last wins.
  absl::StatusOr<UpsertCounts> Upsert(const ItemBatch& batch);
  // Returns how many of `ids` were live (and are now deleted).
  absl::StatusOr<uint64_t> Delete(const std::vector<std::string>& ids);

  // Versioned writes of a replica (see "Versions" above). Per id the write
  // applies only when it orders after (versioning.h) what the collection
  // holds for the id (live item or tombstone); else it counts as
  // superseded. Within the batch an id may repeat: only its greatest write
  // is applied (as if they arrived one at a time, in any order), the others
  // count as superseded. A winning delete kills the live slot as Delete does
  // and keeps a tombstone; a winning upsert removes the id's tombstone.
  // Durable (one log record, fsynced) when this returns OK; a batch in which
  // nothing wins writes no log record. Upserts need config().dim finite
  // floats each (validated by the caller); INTERNAL when the batch's
  // version counts do not match (CheckVersionedBatch).
  absl::StatusOr<ApplyCounts> ApplyVersioned(const VersionedWriteBatch& batch);

  // Live items, tombstones, max version and digest; O(1).
  ReplicaSummary Summary() const;

  // Up to `limit` entries with ids byte-wise greater than `after_id` ("" =
  // from the first id, except an item whose id is ""), ascending by id:
  // live items, and tombstones (deleted = true, only meta.id set) merged in
  // when `include_tombstones`. Vectors only with `include_vectors`.
  // O(log n + limit).
  std::vector<VersionedEntry> Scan(const std::string& after_id, size_t limit,
                                   bool include_tombstones, bool include_vectors) const;

  // The version held for `id` (live item or tombstone); nullopt if neither.
  std::optional<uint64_t> VersionOf(const std::string& id) const;

  // k nearest live items to `query` (dim floats; not normalised).
  SearchResult Search(const float* query, const SearchParams& params) const;
  // nq queries (nq × dim), one result each.
  std::vector<SearchResult> SearchBatch(const float* queries, size_t nq,
                                        const SearchParams& params) const;

  // The vector / meta of a live item; nullopt if absent.
  std::optional<std::vector<float>> GetVector(const std::string& id) const;
  std::optional<ItemMeta> GetMeta(const std::string& id) const;
  // Ids of live items (unordered); for resumable ingest and tests.
  std::vector<std::string> ListIds() const;

  CollectionStats Stats() const;

  // Writes a compacted snapshot now and restarts the log.
  absl::StatusOr<SnapshotInfoData> Snapshot();

  // Blocks until no HNSW rebuild is pending or running, or the builder is
  // waiting to retry a failed one (for tests and benchmarks; serving never
  // needs it).
  void WaitForIndexes() const;

  // The collection's directory is going away (DropCollection): nothing is
  // written to it from now on (no graph saves, none at close). Waits for a
  // graph save in progress.
  void Abandon();

  // Path of the snapshot file in `dir`.
  static std::string SnapshotPath(const std::string& dir);

 private:
  // One metric's HNSW graph and what it covers. Immutable once published.
  struct Graph {
    // Grows (HnswIndex::AddOver, safe beside searches) on the builder
    // thread, in Open and at close; a search ignores its rows from built_n
    // on (it scans those slots exactly), so a Graph's fields stay true.
    std::shared_ptr<HnswIndex> index;
    // The graph holds (some of the) slots < built_n; later slots are
    // searched exactly.
    uint32_t built_n = 0;
    // The last log record applied when slots < built_n were copied.
    uint64_t covered_seq = 0;
    double build_seconds = 0;  // or load time, for a graph read from disk
    int64_t built_at_us = 0;
  };
  // What one rebuild works on: the live slots (the graphs read their
  // vectors in place from vectors_, where slots < n never change).
  struct BuildInput {
    std::vector<uint32_t> slots;  // live slots, ascending
    uint32_t n = 0;               // slots at the copy
    RowSource rows;               // vectors_ at the copy
    // kExtend: the serving graphs to insert slots [built_n, n) into.
    std::vector<std::shared_ptr<const Graph>> graphs;
    uint64_t killed_at_copy = 0;  // killed_since_build_ at the copy
    uint64_t seq = 0;             // applied_seq_ at the copy
  };
  // Where Open stood after loading the snapshot and after each replayed log
  // record: LoadGraphs checks a saved graph's (covered_seq, built_n)
  // against it.
  struct ReplayMark {
    uint64_t seq = 0;
    uint32_t slots = 0;
    uint64_t killed = 0;  // killed_since_build_ then
  };
  // The graph file saved for a metric (collection_persistence.h) and the
  // graph it holds (expired once that graph is replaced).
  struct SavedGraph {
    bool valid = false;
    std::weak_ptr<const Graph> graph;
    GraphManifestEntry entry;
  };
  // What the builder thread does next.
  enum class BuilderWork { kStop, kBuild, kExtend, kSave };

  // Orders live slots by their item's id (byte-wise). Transparent, so that
  // Scan can look an id up. Reads *metas (under mu_, like the set).
  struct SlotIdLess {
    using is_transparent = void;
    explicit SlotIdLess(const std::vector<ItemMeta>* m) : metas(m) {}
    const std::vector<ItemMeta>* metas;
    bool operator()(uint32_t a, uint32_t b) const { return (*metas)[a].id < (*metas)[b].id; }
    bool operator()(uint32_t a, absl::string_view b) const {
      return absl::string_view((*metas)[a].id) < b;
    }
    bool operator()(absl::string_view a, uint32_t b) const {
      return a < absl::string_view((*metas)[b].id);
    }
  };
  // Which writes of a versioned batch win (indexes into the batch, in batch
  // order) and what ApplyVersioned reports.
  struct VersionedPlan {
    std::vector<uint32_t> upserts;
    std::vector<uint32_t> deletes;
    ApplyCounts counts;
  };

  Collection(CollectionConfig config, CollectionOptions options);
  // The slot of `m` in graphs_ (which has kNumMetrics slots).
  static size_t MetricIndex(Metric m) { return static_cast<size_t>(m); }
  // The wall clock, for the *_at_us fields.
  static int64_t NowMicros();
  absl::Status Replay(const WalRecord& record);
  // After LoadGraphs: a build when a graph is missing, else the usual
  // threshold.
  void ScheduleAfterOpen();
  // The snapshot's items, versions and tombstones into an empty collection.
  void LoadSnapshot(const SnapshotData& snap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  UpsertCounts ApplyUpsert(const ItemBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t ApplyDelete(const std::vector<std::string>& ids) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `meta` with `v` (dim floats) as a new live slot holding
  // `version`; the id's previous slot dies and its tombstone goes. True when
  // the id was live before.
  bool PutItem(const ItemMeta& meta, const float* v, uint64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Kills the id's live slot (no tombstone); false when it is not live.
  bool KillItem(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetTombstone(const std::string& id, uint64_t version) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseTombstone(absl::string_view id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // collection_versioned.cc: what the collection holds for `id` as a write
  // (nullopt: nothing), which writes of `batch` win, and applying them.
  std::optional<WriteKey> HeldWrite(absl::string_view id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  VersionedPlan PlanVersioned(const VersionedWriteBatch& batch) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void ApplyPlan(const VersionedWriteBatch& batch, const VersionedPlan& plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Snapshots when the log has grown past auto_snapshot_log_bytes (a
  // failure is logged: the log still holds everything).
  void MaybeAutoSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The rows the graphs read (slots < vectors_.size()).
  RowSource Rows() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // ExactSearchOptions::row_scale for `metric` (cosine: the inverse norms).
  const float* RowScale(Metric metric) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Room for `count` more vectors, made before a write is logged.
  absl::Status ReserveRows(size_t count) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  Bitset Allowed(const SearchParams& params) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  SearchResult SearchLocked(const float* query, const SearchParams& params) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // HNSW part of SearchLocked: the graph's answer merged with an exact scan
  // of the slots added since it was built. False when the graph could not
  // vouch for its answer (the caller then answers exactly).
  bool SearchGraph(const Graph& graph, const float* query, const SearchParams& params,
                   const Bitset* allowed, SearchResult* result,
                   std::vector<Neighbor>* neighbors) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Neighbours (slots) -> hits with the items' ids, labels, uris.
  SearchResult ToResult(const std::vector<Neighbor>& neighbors, const SearchParams& params) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // collection_rebuild.cc
  void MaybeScheduleRebuild() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Changes (slots added or killed) that make a graph over `built` slots
  // worth rebuilding: max(rebuild_min_changes, rebuild_fraction × built).
  size_t RebuildThreshold(size_t built) const;
  void BuilderLoop();
  // Waits for a rebuild or save request; for a rebuild, copies what the
  // build needs.
  BuilderWork WaitAndCopy(BuildInput* in);
  // SaveGraphs on the builder thread (saving_ set meanwhile); logs failures.
  void SaveOnBuilder();
  // Builds one graph per metric (nullptr where the build failed, which is
  // logged and sets *failed).
  std::vector<std::shared_ptr<const Graph>> BuildGraphs(const BuildInput& in, bool* failed);
  // Inserts the live slots [built_n, in.n) into each of in.graphs (searches
  // go on) and returns the graphs that now cover in.n (nullptr where there
  // was nothing to do or the insert failed, which requests a rebuild).
  std::vector<std::shared_ptr<const Graph>> ExtendGraphs(const BuildInput& in);
  // Whether an extended graph covers a rebuild's worth of slots more than
  // the one saved for its metric.
  bool WorthSaving(const std::vector<std::shared_ptr<const Graph>>& extended);
  // Publishes `built`, then after a failed build waits out the back-off.
  void Publish(std::vector<std::shared_ptr<const Graph>> built, uint64_t killed_at_copy,
               bool failed, std::unique_lock<std::shared_mutex>& l)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SnapshotLocked(SnapshotInfoData* info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // collection_persistence.cc. SaveGraphs saves the serving graphs not yet
  // on disk and publishes a manifest naming them and the ones already
  // saved; an error names every graph that could not be saved (the last
  // saved one, or none, stays in the manifest). LoadGraphs installs the
  // saved graphs at Open, after the replay that `marks` describes
  // (marks[0]: the snapshot), inserting the live slots they do not cover;
  // an error names every graph it could not use (the caller logs it;
  // missing graphs are rebuilt). CloseGraphs inserts the slots added since
  // the last build into the graphs and saves them (the destructor).
  absl::Status SaveGraphs();
  // After a snapshot at `snapshot_seq` was published: graphs keep their
  // slot numbering (saved against the new snapshot) unless the snapshot
  // `renumbers` (dropped dead slots); then the saved graphs are removed and
  // no graph is saved again by this process.
  absl::Status RebaseGraphs(uint64_t snapshot_seq, bool renumbers);
  absl::Status LoadGraphs(const std::vector<ReplayMark>& marks);
  // Whether the replay numbered the slots `e` covers as its builder did;
  // lowers *killed_at_cover to the kills counted when it was built.
  absl::Status CheckGraphCover(const GraphManifestEntry& e, const std::vector<ReplayMark>& marks,
                               uint64_t* killed_at_cover) const;
  // LoadGraphFile for each entry, up to num_threads at once.
  std::vector<LoadedGraph> LoadGraphFilesInParallel(const std::vector<GraphManifestEntry>& entries,
                                                    const RowSource& rows) const;
  // Serves `lg` (when it loaded) after ExtendGraph.
  absl::Status InstallLoadedGraph(LoadedGraph& lg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Inserts the live slots >= g.built_n of `metric` into g.index and
  // returns the graph covering every slot; g itself when there are none,
  // or when there are max_tail or more (then the builder's job).
  absl::StatusOr<std::shared_ptr<Graph>> ExtendGraph(Metric metric, std::shared_ptr<Graph> g,
                                                     size_t max_tail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseGraphs();

  const CollectionConfig config_;
  const CollectionOptions options_;

  // Locks are std:: (pthread) rather than absl::Mutex on purpose: Debian's
  // Abseil is not built with ThreadSanitizer, which then cannot see
  // absl::Mutex synchronisation, and `make tsan` runs these tests.
  //
  // Serialises writers (log append + apply) and snapshots; never held by
  // searches. Taken before mu_.
  std::mutex write_mu_;
  std::unique_ptr<WalWriter> wal_ ABSL_GUARDED_BY(write_mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(write_mu_) = 0;
  // Set (and wal_ null) when the log can no longer be written safely.
  absl::Status write_error_ ABSL_GUARDED_BY(write_mu_);

  // Serialises graph saves (the builder's, a snapshot's, the close's) and
  // guards what they need. Taken after write_mu_ and before mu_.
  std::mutex save_mu_;
  // The snapshot whose slot numbering this process uses (the one it
  // opened, or a later one written while no slot was dead).
  uint64_t numbering_base_seq_ ABSL_GUARDED_BY(save_mu_) = 0;
  // A snapshot renumbered the slots on disk (see "Durability").
  bool numbering_diverged_ ABSL_GUARDED_BY(save_mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(save_mu_) = false;
  // Open succeeded (a collection that failed to open saves nothing at close).
  bool opened_ ABSL_GUARDED_BY(save_mu_) = false;
  std::vector<SavedGraph> saved_ ABSL_GUARDED_BY(save_mu_);  // per metric
  uint64_t next_graph_file_id_ ABSL_GUARDED_BY(save_mu_) = 1;

  // Readers (searches) share it; writers hold it only to append / swap.
  mutable std::shared_mutex mu_;
  // Signals rebuild requests to the builder and build completion to
  // WaitForIndexes(); used with mu_.
  mutable std::condition_variable_any cv_;
  // slots × dim, at fixed addresses: searches read them under mu_; the
  // graphs and the builder read slots below the size they learnt under mu_
  // without it (those rows never change). Appended under write_mu_ + mu_.
  VectorStore vectors_;
  // 1/||v|| per slot (InverseNorm) when the metrics include cosine: cosine
  // is scored on the raw vectors, so no normalised copy is kept.
  std::vector<float> inv_norms_ ABSL_GUARDED_BY(mu_);
  std::vector<ItemMeta> metas_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> versions_ ABSL_GUARDED_BY(mu_);  // per slot
  Bitset live_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> slot_of_ ABSL_GUARDED_BY(mu_);
  // The live slots in id order (for Scan); compares through metas_.
  absl::btree_set<uint32_t, SlotIdLess> by_id_ ABSL_GUARDED_BY(mu_);
  // Deleted ids -> the winning delete's version (ApplyVersioned only).
  absl::btree_map<std::string, uint64_t> tombstones_ ABSL_GUARDED_BY(mu_);
  uint64_t max_version_ ABSL_GUARDED_BY(mu_) = 0;
  // XOR of ReplicaEntryHash over live items and tombstones.
  uint64_t digest_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t live_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t updated_at_us_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::shared_ptr<const Graph>> graphs_ ABSL_GUARDED_BY(mu_);  // per metric
  // The last log record applied to the items.
  uint64_t applied_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // The builder is asked to / is saving graphs (not a build).
  bool save_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool saving_ ABSL_GUARDED_BY(mu_) = false;
  // Slots killed since the serving graphs were built.
  uint64_t killed_since_build_ ABSL_GUARDED_BY(mu_) = 0;
  bool rebuild_requested_ ABSL_GUARDED_BY(mu_) = false;
  // Slots added since the serving graphs were built are to be inserted.
  bool extend_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool building_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Consecutive builds with a failed metric, and whether the builder is
  // waiting (rebuild_retry_*) before the next attempt.
  int build_failures_ ABSL_GUARDED_BY(mu_) = 0;
  bool backing_off_ ABSL_GUARDED_BY(mu_) = false;
  // CollectionStats' graph counters.
  uint64_t graphs_built_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t graphs_loaded_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t graph_tail_inserts_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread builder_;
};

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_COLLECTION_H_

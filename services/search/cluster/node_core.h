// A search cluster node's logic (docs/cluster.md), behind the internal
// latentsearch.v1.SearchNode API: the shard replicas this node holds, each a
// local collection named "<collection>.<shard>" (a name no user collection
// can produce, since every replica name ends in its shard number), their
// state (serving or catching up), versioned writes, shard searches, scans for
// peers and routers, and catch-up from peers.
//
// What the node should hold comes from the placements in etcd, handed to
// Reconcile() by the node agent (node_agent.h) every refresh interval: a
// replica assigned to this node is created (or found on disk) and starts
// CATCHING_UP; one no longer assigned is dropped after two intervals, so
// routers with an older placement can still read it meanwhile.
//
// Catch-up (CatchUpDue): two refresh intervals after a replica starts
// catching up (so every router now sends it every write, and writes that
// failed on it have reached its peers), it pages through every reachable
// peer's items and tombstones and applies them last-writer-wins; it serves
// once it has merged a serving peer, or every peer. A replica without peers
// (replication factor 1) serves at once. A Resync during a catch-up restarts
// it.
//
// Anti-entropy (AntiEntropyDue): a write can reach only some replicas and
// never be retried (its router died mid-call; the client saw an error, so
// its outcome was unknown). Every few refresh intervals a serving replica
// compares its digest (an order-independent hash of every id, version and
// delete) with its peers'; when a peer's differs at two checks in a row
// while neither side took a write between them, it merges that peer's items
// (last-writer-wins, still serving). Both sides do, so they converge.
//
// Thread-safety: every method is thread-safe. CatchUpDue runs peers' scans
// without holding the node's lock.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_CORE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/search_core.h"

namespace latentsearch::search::cluster {

// Reads one page of a peer's replica (SearchNode.ScanShard).
class PeerScanner {
 public:
  virtual ~PeerScanner() = default;
  virtual absl::StatusOr<v1::ScanShardResponse> Scan(const std::string& node,
                                                     const v1::ScanShardRequest& request) = 0;
  // A peer node's replicas and their digests (SearchNode.GetNodeStatus).
  virtual absl::StatusOr<v1::GetNodeStatusResponse> Status(const std::string& node) = 0;
};

// Something that happened to a replica, for /metrics (node_metrics.h).
struct ReplicaEvent {
  enum class Kind {
    // A catch-up started (or restarted); `reason` says why.
    kCatchUpStarted,
    // The replica caught up and serves; `took` runs from the first start
    // of the catch-up (restarts included) to now.
    kCaughtUp,
    // Anti-entropy merged a peer's items into the serving replica.
    kAntiEntropyMerge,
  };
  Kind kind = Kind::kCatchUpStarted;
  std::string collection;
  uint32_t shard = 0;
  // kCatchUpStarted: "start" (opened from disk when the node started),
  // "new" (created empty: a new collection, a moved or wiped replica) or
  // "resync" (a router's Resync).
  const char* reason = "";
  absl::Duration took;
};

struct NodeCoreOptions {
  // The address routers and peers dial to reach this node (--advertise).
  std::string address;
  // Where replicas live and the search limits (max_name_length is raised to
  // fit replica names).
  CollectionManagerOptions collections;
  // How often the agent re-reads placements (docs/cluster.md).
  absl::Duration refresh_interval = absl::Seconds(1);
  // Items per page when copying from a peer.
  uint32_t catch_up_page_size = 1000;
  // The clock (tests move it by hand); empty = absl::Now.
  std::function<absl::Time()> clock;
  // Hears every ReplicaEvent (catch-ups of replicas with peers; a replica
  // without peers serves at once and has none). Called on the thread that
  // made the event, sometimes under the node's lock: cheap, thread-safe,
  // must not call this NodeCore. Empty = none.
  std::function<void(const ReplicaEvent&)> on_replica_event;
};

class NodeCore {
 public:
  // Opens the replicas under options.collections.data_dir; they refuse reads
  // until the first Reconcile names them.
  static absl::StatusOr<std::unique_ptr<NodeCore>> Create(NodeCoreOptions options,
                                                          std::shared_ptr<PeerScanner> peers);

  // "<collection>.<shard>".
  static std::string ReplicaName(const std::string& collection, uint32_t shard);

  // Applies the cluster's placements (every collection's).
  void Reconcile(const std::vector<v1::CollectionPlacement>& placements);
  // Catches up every replica whose catch-up is due; returns how many now
  // serve.
  int CatchUpDue();
  // Whether a catch-up is due now (the agent's wake-up test).
  bool CatchUpPending() const;
  // Compares serving replicas with their peers (at most every
  // 5 refresh intervals each) and merges from a peer that stayed different
  // while quiet; returns how many merges ran.
  int AntiEntropyDue();

  const std::string& address() const { return options_.address; }
  v1::GetNodeStatusResponse Status() const;
  // True when every replica the node holds serves (readiness).
  bool AllServing() const;

  absl::StatusOr<v1::ShardWriteResponse> Write(const v1::ShardWriteRequest& request);
  absl::StatusOr<v1::SearchBatchResponse> SearchShard(const v1::ShardSearchRequest& request) const;
  absl::StatusOr<v1::GetItemsResponse> GetItems(const v1::GetItemsRequest& request) const;
  absl::StatusOr<v1::ScanShardResponse> ScanShard(const v1::ScanShardRequest& request) const;
  absl::Status Resync(const v1::ResyncRequest& request);
  absl::StatusOr<v1::SnapshotResponse> Snapshot(const v1::SnapshotRequest& request);

 private:
  struct Replica {
    std::string collection;
    uint32_t shard = 0;
    v1::ReplicaState state = v1::REPLICA_STATE_CATCHING_UP;
    // The other replicas of the shard (their nodes).
    std::vector<std::string> peers;
    // A catch-up may start at this time.
    absl::Time catch_up_after = absl::InfinitePast();
    // When the replica last stopped serving to catch up (InfinitePast
    // while it serves).
    absl::Time catch_up_started = absl::InfinitePast();
    // Bumped by every (re)start of a catch-up; a catch-up that finishes for
    // an older generation does not make the replica serve.
    uint64_t generation = 0;
    // When the placement stopped naming it (InfiniteFuture = it names it).
    absl::Time unassigned_since = absl::InfiniteFuture();
    // The placement's created_at_us (a re-created collection is new).
    int64_t created_at_us = 0;
    // Anti-entropy: when the next comparison is due, and per peer the
    // (own max_version, peer max_version, peer digest) of the last
    // comparison that differed.
    absl::Time next_compare = absl::InfinitePast();
    std::map<std::string, std::tuple<uint64_t, uint64_t, uint64_t>> differed;
  };

  NodeCore(NodeCoreOptions options, std::unique_ptr<SearchCore> core,
           std::shared_ptr<PeerScanner> peers);
  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }
  void Emit(const ReplicaEvent& event) const {
    if (options_.on_replica_event) options_.on_replica_event(event);
  }
  // Creates (or adopts from disk) one assigned replica.
  void Assign(const v1::CollectionPlacement& placement, const v1::ShardPlacement& shard)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The shard's other replicas become r's peers; r is assigned.
  void SetPeers(const v1::ShardPlacement& shard, Replica* r) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The local collection of a replica: opened as it is on disk (true) or
  // created empty (false; an older collection of the name is dropped).
  absl::StatusOr<bool> OpenOrCreate(const v1::CollectionPlacement& placement,
                                    const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `reason` as ReplicaEvent::reason; `why` for the log.
  void StartCatchUp(Replica* r, const char* reason, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops replicas unassigned for longer than the grace.
  void DropUnassigned() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The replica named by `ref`: NOT_FOUND if the node does not hold it;
  // with `serving`, UNAVAILABLE while it catches up.
  absl::StatusOr<std::string> Find(const v1::ShardRef& ref, bool serving) const;
  // Merges every peer's items into `name`; true when it may serve.
  bool CopyFromPeers(const std::string& name, const v1::ShardRef& ref,
                     const std::vector<std::string>& peers);
  // Merges all of one peer's items into `name`.
  absl::Status MergeFromPeer(const std::string& name, const v1::ShardRef& ref,
                             const std::string& peer, bool* peer_serving);
  // Anti-entropy for one replica: the peers to merge from now.
  std::vector<std::string> DivergedPeers(const std::string& name, const v1::ShardRef& ref,
                                         const std::vector<std::string>& peers);
  // Applies one page of a peer's items; counts how many applied.
  absl::Status ApplyPage(const std::string& name, const v1::ScanShardResponse& page);

  const NodeCoreOptions options_;
  const std::unique_ptr<SearchCore> core_;
  CollectionManager* const collections_;
  const std::shared_ptr<PeerScanner> peers_;
  mutable absl::Mutex mu_;
  std::map<std::string, Replica> replicas_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_CORE_H_

// A router's picture of the cluster (docs/cluster.md), refreshed every
// refresh interval: every collection's placement and the registered nodes
// from the placement store (etcd), and what every node reports about its
// replicas (SearchNode.GetNodeStatus, polled in parallel with a short
// deadline). It keeps one NodeClient per node address.
//
// It answers which replicas of a shard to read, in order: ACTIVE and LEAVING
// replicas that the last poll saw SERVING on a node that answered, rotated
// per call to spread the load; then the ones the poll did not see serving
// (the node refuses reads itself while a replica catches up, so trying them
// is safe and covers a poll that is up to one interval old); replicas on
// nodes that did not answer last. Replicas in the router's "suspect" set
// are never read: a replica that failed or did not finish a write
// (ReportFailedWrite) is told to catch up (SearchNode.Resync, repeated
// every refresh until the node accepts it) and stays suspect until a poll
// that started after the node accepted the Resync sees it SERVING again.
//
// When the store cannot be read, the last placements are kept (nodes are
// still polled), a WARNING is logged and Refresh returns the error.
//
// Thread-safety: thread-safe. A ViewState is immutable once published.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_CLUSTER_VIEW_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_CLUSTER_VIEW_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/cluster/router_node_client.h"
#include "services/search/cluster/router_placement_store.h"

namespace latentsearch::search::cluster {

struct ClusterViewOptions {
  // Required: placements and node records.
  std::shared_ptr<RouterPlacementStore> store;
  // Required: makes the client of a node address.
  NodeDialer dial;
  // How often the refresh thread (Start) refreshes.
  absl::Duration refresh_interval = absl::Seconds(1);
  // Deadline of each node poll.
  absl::Duration poll_timeout = absl::Milliseconds(500);
  // Hears every replica told to resync after a failed write (not the
  // re-sends), for /metrics; empty = none.
  std::function<void(const std::string& collection, uint32_t shard, const std::string& node)>
      on_resync;
};

// (collection, shard).
using ShardKey = std::pair<std::string, uint32_t>;

// What one refresh saw.
struct ViewState {
  struct Node {
    // Registered in the store (else only named by a placement).
    bool registered = false;
    // Answered the last poll.
    bool up = false;
    // Why not, when it did not.
    absl::Status error;
    // Its replicas as it reported them.
    std::map<ShardKey, v1::NodeReplica> replicas;
  };

  std::map<std::string, StoredPlacement> collections;
  std::map<std::string, Node> nodes;
  // When the poll of this state started.
  absl::Time polled_at = absl::InfinitePast();

  // The collection's placement; nullptr when unknown.
  const StoredPlacement* Find(const std::string& collection) const;
  // What `node` reported for the replica; nullptr when the node is down or
  // does not hold it.
  const v1::NodeReplica* Replica(const std::string& node, const std::string& collection,
                                 uint32_t shard) const;
  bool NodeUp(const std::string& node) const;
};

class ClusterView {
 public:
  // Checks the options; does not refresh (call Refresh or Start).
  static absl::StatusOr<std::unique_ptr<ClusterView>> Create(ClusterViewOptions options);
  ~ClusterView();  // Stop().

  // Runs `fn` at the end of every Refresh, on the refreshing thread (the
  // router's reconcile step), with the new state.
  void SetAfterRefresh(std::function<void(const ViewState&)> fn);

  // One refresh: store, node polls, suspects, then the after-refresh step.
  // Calls are serialized. Returns the store's error when it could not be
  // read.
  absl::Status Refresh();
  // Starts / stops the refresh thread (Stop waits for a refresh under way).
  void Start();
  void Stop();

  // The last refresh's state (empty before the first).
  std::shared_ptr<const ViewState> Current() const;
  // Replicas of `shard` to read from, in preference order (file comment).
  std::vector<std::string> ReadOrder(const ViewState& state,
                                     const v1::CollectionPlacement& placement, uint32_t shard);
  // The client of `address` (made on first use).
  absl::StatusOr<std::shared_ptr<NodeClient>> Client(const std::string& address);

  // Polls `nodes` in parallel (GetNodeStatus, deadline min(`deadline`, now
  // + poll_timeout)); one answer per node.
  std::map<std::string, absl::StatusOr<v1::GetNodeStatusResponse>> Poll(
      const std::vector<std::string>& nodes, absl::Time deadline);

  // A write to the replica failed or did not finish in time: it becomes
  // suspect and is told to resync.
  void ReportFailedWrite(const std::string& collection, uint32_t shard, const std::string& node,
                         const std::string& reason);
  bool IsSuspect(const std::string& collection, uint32_t shard, const std::string& node) const;

  absl::Duration refresh_interval() const { return options_.refresh_interval; }
  RouterPlacementStore& store() const { return *options_.store; }

 private:
  struct Suspect {
    std::string reason;
    // When the node accepted the Resync (InfiniteFuture = not yet).
    absl::Time resync_accepted = absl::InfiniteFuture();
    // Bumped by every failed write, so an older Resync's answer is ignored.
    uint64_t generation = 0;
  };
  // (collection, shard, node).
  using SuspectKey = std::tuple<std::string, uint32_t, std::string>;

  explicit ClusterView(ClusterViewOptions options) : options_(std::move(options)) {}
  void Loop();
  // The nodes to poll: registered ones and those placements name.
  static std::vector<std::string> NodesOf(const std::vector<v1::NodeRecord>& registered,
                                          const std::map<std::string, StoredPlacement>& placements);
  std::shared_ptr<ViewState> BuildState(
      const std::vector<v1::NodeRecord>& registered,
      std::map<std::string, StoredPlacement> placements, absl::Time polled_at,
      std::map<std::string, absl::StatusOr<v1::GetNodeStatusResponse>> polls) const;
  // Clears suspects the new state shows caught up; re-sends Resyncs.
  void UpdateSuspects(const ViewState& state);
  void SendResync(const SuspectKey& key, uint64_t generation, const std::string& reason);

  const ClusterViewOptions options_;
  absl::Mutex refresh_mu_;  // Serializes Refresh.
  std::function<void(const ViewState&)> after_refresh_ ABSL_GUARDED_BY(refresh_mu_);
  // Last good store read (kept when the store fails).
  std::vector<v1::NodeRecord> registered_ ABSL_GUARDED_BY(refresh_mu_);
  std::map<std::string, StoredPlacement> placements_ ABSL_GUARDED_BY(refresh_mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const ViewState> state_ ABSL_GUARDED_BY(mu_) = std::make_shared<ViewState>();
  std::map<std::string, std::shared_ptr<NodeClient>> clients_ ABSL_GUARDED_BY(mu_);
  std::map<SuspectKey, Suspect> suspects_ ABSL_GUARDED_BY(mu_);
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
  std::atomic<uint64_t> rotation_{0};
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_CLUSTER_VIEW_H_

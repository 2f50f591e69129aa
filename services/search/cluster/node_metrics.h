// A search cluster node's own /metrics families (docs/cluster.md,
// "Operations"), next to the per-RPC ones of the shared bootstrap:
//
//   latentsearch_node_replica_state{collection,shard,state}
//       gauge read from NodeCore::Status() at scrape time: per replica the
//       node holds, 1 for its state (serving | catching_up), 0 for the
//       other.
//   latentsearch_node_replica_items{collection,shard}        live items
//   latentsearch_node_replica_tombstones{collection,shard}   delete tombstones
//   latentsearch_node_catch_up_seconds{collection,shard}
//       histogram: how long catch-ups took, from the replica's leaving
//       service (restarts of the catch-up included) until it served again.
//   latentsearch_node_catch_ups_total{collection,shard,reason}
//       catch-ups started: reason = start (opened from disk at start-up) |
//       new (created empty: new collection, moved or wiped replica) |
//       resync (a router's Resync). Replicas without peers serve at once
//       and are not counted.
//   latentsearch_node_anti_entropy_merges_total{collection,shard}
//       peers merged into a serving replica that differed from them.
//
// Series are bounded by the replicas the node holds.
//
// Thread-safety: thread-safe. The hook Install() sets holds the registry's
// families, not this object; Watch/Unwatch may race with scrapes.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_METRICS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_METRICS_H_

#include <memory>
#include <vector>

#include "common/rpc/metrics.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/cluster/node_core.h"

namespace latentsearch::search::cluster {

class NodeMetrics {
 public:
  // Registers the families in `registry` (not owned; it must outlive this
  // object and every NodeCore whose options Install() filled).
  explicit NodeMetrics(rpc::MetricsRegistry* registry);
  ~NodeMetrics();  // Unwatch().
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

  // Sets `options`' on_replica_event to count into the families.
  void Install(NodeCoreOptions* options) const;
  // The gauges read `core` (not owned) at every scrape until Unwatch();
  // before, and after, they have no samples. Call Unwatch before the core
  // is destroyed.
  void Watch(const NodeCore* core);
  void Unwatch();

 private:
  struct Families;
  struct Source;
  const std::shared_ptr<const Families> families_;
  const std::shared_ptr<Source> source_;
};

// The gauges' samples of one GetNodeStatus answer: replica states (label
// values collection, shard, state; two per replica), items and tombstones
// (collection, shard).
std::vector<rpc::GaugeSample> NodeReplicaStates(const v1::GetNodeStatusResponse& status);
std::vector<rpc::GaugeSample> NodeReplicaItems(const v1::GetNodeStatusResponse& status);
std::vector<rpc::GaugeSample> NodeReplicaTombstones(const v1::GetNodeStatusResponse& status);

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_METRICS_H_

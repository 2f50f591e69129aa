// A search cluster router's own /metrics families (docs/cluster.md,
// "Operations"), next to the per-RPC ones of the shared bootstrap:
//
//   latentsearch_router_shard_request_seconds{collection,shard,rpc,outcome}
//       histogram. rpc = search | get_items | list_items: one read of one
//       shard, from the first replica's call to the answer (retries and
//       hedges included); rpc = write: one shard's part of a write, from
//       sending it to every replica until its consistency level was met or
//       could no longer be. outcome = ok | error.
//   latentsearch_router_shard_retries_total{collection,shard,kind}
//       kind = retry (a read sent to the next replica after one failed) |
//       hedge (sent beside a replica slower than the hedge delay).
//   latentsearch_router_partial_answers_total{collection}
//       Search / SearchBatch calls answered partial.
//   latentsearch_router_write_refusals_total{collection}
//       Upsert messages / Deletes refused UNAVAILABLE (a shard could not
//       get the acknowledgements its consistency level needs).
//   latentsearch_router_replica_state{collection,shard,node,state}
//       gauge read from the ClusterView at scrape time: per placed replica
//       1 for the state the last poll saw (serving | catching_up | down |
//       missing, as `latentsearch cluster status`), 0 for the others.
//   latentsearch_router_resyncs_total{collection,shard,node}
//       replicas told to resync after a missed write.
//
// Series are created on first use and bounded by collections x shards
// (x nodes for the per-replica ones).
//
// Thread-safety: thread-safe. The hooks Install() sets hold the registry's
// families, not this object; Watch/Unwatch may race with scrapes.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_METRICS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_METRICS_H_

#include <memory>
#include <vector>

#include "common/rpc/metrics.h"
#include "services/search/cluster/cluster_view.h"
#include "services/search/cluster/router_options.h"

namespace latentsearch::search::cluster {

class RouterMetrics {
 public:
  // Registers the families in `registry` (not owned; it must outlive this
  // object and every RouterCore whose options Install() filled).
  explicit RouterMetrics(rpc::MetricsRegistry* registry);
  ~RouterMetrics();  // Unwatch().
  RouterMetrics(const RouterMetrics&) = delete;
  RouterMetrics& operator=(const RouterMetrics&) = delete;

  // Sets `options`' on_shard_read, on_shard_write, on_partial_answer,
  // on_write_refused and on_resync to count into the families.
  void Install(RouterCoreOptions* options) const;
  // The replica-state gauge reads `view` (not owned) at every scrape until
  // Unwatch(); before, and after, it has no samples. Call Unwatch before
  // the view is destroyed.
  void Watch(const ClusterView* view);
  void Unwatch();

 private:
  struct Families;
  struct Source;
  const std::shared_ptr<const Families> families_;
  const std::shared_ptr<Source> source_;
};

// The replica-state samples of `state` (label values collection, shard,
// node, state): four per replica of every placement, 1 for the state the
// router saw.
std::vector<rpc::GaugeSample> RouterReplicaStates(const ViewState& state);

// The `rpc` label of a ShardReadStats::rpc ("SearchShard" -> "search",
// "GetItems" -> "get_items", "ScanShard" -> "list_items"; else "other").
const char* ShardReadRpcLabel(const char* rpc);

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_METRICS_H_

// A router's search (docs/cluster.md): a batch of vector and item_id
// queries over a clustered collection.
//
// Item queries first fetch their item's vector from the shard that owns the
// id (SearchNode.GetItems); with exclude_self they then ask every shard for
// k + 1 neighbours and drop the item itself. The vector queries go to one
// replica per shard in the cluster view's read order (SearchNode.
// SearchShard; a failed or slow replica is retried or hedged on the next,
// router_shard_read.h), and each query's per-shard answers are merged with
// cluster::MergeTopKInto (distance, then id). A shard with no replica that
// answers fails the batch UNAVAILABLE naming the shard, unless
// `allow_partial`: then every result is marked partial and lists the
// missing shards. The nodes' INVALID_ARGUMENT and FAILED_PRECONDITION pass
// through. exact_fallback is true when any shard fell back; took_micros is
// the router's time.
//
// Image queries are not handled here: RouterCore encodes them first.
//
// Thread-safety: thread-safe; `done` runs once, on the thread of the last
// answer (or inline).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SEARCH_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SEARCH_H_

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "latentsearch/v1/cluster.pb.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/cluster/router_context.h"
#include "services/search/cluster/router_shard_read.h"

namespace latentsearch::search::cluster {

class RouterSearch {
 public:
  using Done = std::function<void(const absl::Status&)>;

  // Answers `batch` (validated: vector and item_id queries only) over
  // `placement` into *response (valid until `done` ran). `cancels` cancels
  // every node call (the client's Cancellation calls CancelAll).
  static void Run(const RouterContext& ctx, const v1::CollectionPlacement& placement,
                  std::shared_ptr<const v1::SearchBatchRequest> batch, absl::Time deadline,
                  std::shared_ptr<CancelGroup> cancels, v1::SearchBatchResponse* response,
                  Done done);
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SEARCH_H_

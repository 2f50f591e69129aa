// ListItems through a router: the documented contract (items with ids
// byte-wise after page_token, ascending; next_page_token = the last id
// returned, "" after the last page) across shards. Every shard gives its
// next page after the token (SearchNode.ScanShard, live items only, read
// from one replica with retries, router_shard_read.h); the union's first
// page_size ids are the page, since a shard's unreturned ids all sort after
// its page's last one. Shards are asked for one item more than the page, so
// the last page ends with "" (not with a token that leads to an empty
// page). item_count is the sum of the shards' counts.
// Thread-safety: thread-safe; blocks until the shards answered (run it on
// a worker thread, not a gRPC one).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_LIST_ITEMS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_LIST_ITEMS_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/cluster.pb.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/cluster/router_context.h"

namespace latentsearch::search::cluster {

// INVALID_ARGUMENT for page_size > 10,000 (as the standalone server);
// UNAVAILABLE naming a shard none of whose replicas answered.
absl::StatusOr<v1::ListItemsResponse> ListItemsAcrossShards(
    const RouterContext& ctx, const v1::CollectionPlacement& placement,
    const v1::ListItemsRequest& request, absl::Time deadline);

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_LIST_ITEMS_H_

// The Cluster admin calls of a router (cluster.proto's Cluster service) and
// the step that finishes replica moves (docs/cluster.md, "Moves and
// rebalancing"):
// - ClusterStatus: nodes, and per collection and shard every replica's
//   role, state (DOWN when its node did not answer, MISSING when the node
//   does not list it), counts and lag, from the view's last refresh.
// - Rebalance: cluster::PlanRebalance over the nodes that answer, then per
//   collection cluster::StartMove for its moves, stored with one
//   compare-and-swap (dry_run only plans).
// - FinishCaughtUpMoves, run after every refresh: a JOINING replica its
//   node reports SERVING becomes ACTIVE and the shard's LEAVING one is
//   dropped (cluster::FinishMove, compare-and-swap; a conflict is retried
//   at the next refresh).
// Blocking (store and node calls): run on a worker or the refresh thread.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CLUSTER_ADMIN_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CLUSTER_ADMIN_H_

#include "absl/status/statusor.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/cluster/router_context.h"

namespace latentsearch::search::cluster {

v1::ClusterStatusResponse ClusterStatus(const RouterContext& ctx, const ViewState& state);

// FAILED_PRECONDITION naming the collection when a move is already under
// way for it (for every collection when request.collection is "");
// NOT_FOUND for an unknown collection; ABORTED when a placement changed
// while the moves were being stored (the moves stored before are listed
// in the message).
absl::StatusOr<v1::RebalanceResponse> Rebalance(const RouterContext& ctx,
                                                const v1::RebalanceRequest& request);

void FinishCaughtUpMoves(const RouterContext& ctx, const ViewState& state);

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CLUSTER_ADMIN_H_

// Cluster.Status, Cluster.Rebalance and finishing caught-up moves
// (router_cluster_admin.h).
// Thread-safety: stateless functions over the view and the store.
#include "services/search/cluster/router_cluster_admin.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/cluster/placement.h"
#include "services/search/cluster/router_validate.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::cluster::FinishMove;
using ::latentsearch::cluster::MoveInProgress;
using ::latentsearch::cluster::PlanRebalance;
using ::latentsearch::cluster::StartMove;

std::string DescribeMove(const v1::ReplicaMove& m) {
  return absl::StrCat(m.collection(), " shard ", m.shard(), ": ", m.from_node(), " -> ",
                      m.to_node());
}

v1::ShardStatus ShardStatusOf(const ViewState& state, const std::string& collection,
                              const v1::ShardPlacement& shard) {
  v1::ShardStatus out;
  out.set_shard(shard.shard());
  uint64_t fullest = 0;
  for (const v1::ReplicaPlacement& r : shard.replicas()) {
    v1::ReplicaStatus* s = out.add_replicas();
    s->set_node(r.node());
    s->set_role(r.role());
    const v1::NodeReplica* seen = state.Replica(r.node(), collection, shard.shard());
    if (!state.NodeUp(r.node())) {
      s->set_state(v1::REPLICA_STATE_DOWN);
    } else if (seen == nullptr) {
      s->set_state(v1::REPLICA_STATE_MISSING);
    } else {
      s->set_state(seen->state());
      s->set_item_count(seen->item_count());
      s->set_tombstones(seen->tombstones());
      s->set_max_version(seen->max_version());
      if (seen->state() == v1::REPLICA_STATE_SERVING) {
        fullest = std::max<uint64_t>(fullest, seen->item_count());
      }
    }
  }
  for (v1::ReplicaStatus& s : *out.mutable_replicas()) {
    const bool known =
        s.state() == v1::REPLICA_STATE_SERVING || s.state() == v1::REPLICA_STATE_CATCHING_UP;
    s.set_lag_items(known && fullest > s.item_count() ? fullest - s.item_count() : 0);
  }
  return out;
}

// The nodes that are registered and answer a poll now.
absl::StatusOr<std::vector<std::string>> LiveNodes(const RouterContext& ctx) {
  LS_ASSIGN_OR_RETURN(std::vector<v1::NodeRecord> records, ctx.view->store().ReadNodes());
  std::vector<std::string> nodes;
  for (const v1::NodeRecord& n : records) nodes.push_back(n.address());
  std::vector<std::string> live;
  for (auto& [node, poll] : ctx.view->Poll(nodes, absl::InfiniteFuture())) {
    if (poll.ok()) {
      live.push_back(node);
    } else {
      LOG(WARNING) << "rebalance: leaving out node " << node
                   << ", which does not answer: " << poll.status();
    }
  }
  return live;
}

// Starts `moves` (all of one collection) on its placement: one swap.
absl::Status StartMoves(const RouterContext& ctx, const StoredPlacement& stored,
                        const std::vector<v1::ReplicaMove>& moves) {
  v1::CollectionPlacement placement = stored.placement;
  for (const v1::ReplicaMove& m : moves) {
    LS_ASSIGN_OR_RETURN(placement, StartMove(placement, m));
  }
  LS_ASSIGN_OR_RETURN(bool swapped,
                      ctx.view->store().SwapPlacement(placement, stored.mod_revision));
  if (!swapped) {
    return absl::AbortedError(absl::StrCat("the placement of collection '", placement.spec().name(),
                                           "' changed meanwhile; nothing moved for it"));
  }
  for (const v1::ReplicaMove& m : moves) LOG(INFO) << "started move " << DescribeMove(m);
  return absl::OkStatus();
}

}  // namespace

v1::ClusterStatusResponse ClusterStatus(const RouterContext& ctx, const ViewState& state) {
  v1::ClusterStatusResponse out;
  std::map<std::string, uint32_t> replicas;
  for (const auto& [name, stored] : state.collections) {
    const v1::CollectionPlacement& p = stored.placement;
    v1::CollectionClusterStatus* c = out.add_collections();
    c->set_name(name);
    c->set_shards(p.spec().shards());
    c->set_replication_factor(p.spec().replication_factor());
    c->set_write_consistency(p.spec().write_consistency());
    for (const v1::ShardPlacement& s : p.shards()) {
      *c->add_shard_status() = ShardStatusOf(state, name, s);
      for (const v1::ReplicaPlacement& r : s.replicas()) ++replicas[r.node()];
    }
  }
  for (const auto& [address, node] : state.nodes) {
    v1::NodeStatus* n = out.add_nodes();
    n->set_address(address);
    n->set_up(node.up);
    n->set_replicas(replicas[address]);
  }
  out.set_router(ctx.options->name);
  out.set_refresh_interval_ms(
      static_cast<uint32_t>(absl::ToInt64Milliseconds(ctx.options->refresh_interval)));
  return out;
}

absl::StatusOr<v1::RebalanceResponse> Rebalance(const RouterContext& ctx,
                                                const v1::RebalanceRequest& request) {
  LS_ASSIGN_OR_RETURN(std::vector<StoredPlacement> stored, ctx.view->store().ReadPlacements());
  std::vector<v1::CollectionPlacement> placements;
  std::map<std::string, const StoredPlacement*> by_name;
  std::vector<std::string> moving;
  for (const StoredPlacement& s : stored) {
    placements.push_back(s.placement);
    by_name[s.placement.spec().name()] = &s;
    const bool considered =
        request.collection().empty() || request.collection() == s.placement.spec().name();
    if (considered && MoveInProgress(s.placement)) moving.push_back(s.placement.spec().name());
  }
  if (!request.collection().empty() && by_name.count(request.collection()) == 0) {
    return UnknownCollection(request.collection());
  }
  if (!moving.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("a move is already under way for collection '", absl::StrJoin(moving, "', '"),
                     "'; wait until it finished (cluster status)"));
  }
  LS_ASSIGN_OR_RETURN(std::vector<std::string> nodes, LiveNodes(ctx));
  std::map<std::string, std::vector<v1::ReplicaMove>> plan;
  v1::RebalanceResponse out;
  for (v1::ReplicaMove& m : PlanRebalance(placements, nodes)) {
    if (!request.collection().empty() && m.collection() != request.collection()) continue;
    *out.add_moves() = m;
    plan[m.collection()].push_back(std::move(m));
  }
  if (request.dry_run()) return out;
  std::vector<std::string> started;
  for (const auto& [name, moves] : plan) {
    absl::Status s = StartMoves(ctx, *by_name[name], moves);
    if (!s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat(s.message(), "; moves started before: ",
                                       started.empty() ? "none" : absl::StrJoin(started, ", "),
                                       ". Run rebalance again"));
    }
    for (const v1::ReplicaMove& m : moves) started.push_back(DescribeMove(m));
  }
  if (absl::Status s = ctx.view->Refresh(); !s.ok()) {
    LOG(WARNING) << "refresh after starting moves failed: " << s;
  }
  return out;
}

void FinishCaughtUpMoves(const RouterContext& ctx, const ViewState& state) {
  for (const auto& [name, stored] : state.collections) {
    v1::CollectionPlacement placement = stored.placement;
    std::vector<std::string> finished;
    for (const v1::ShardPlacement& s : stored.placement.shards()) {
      for (const v1::ReplicaPlacement& r : s.replicas()) {
        if (r.role() != v1::REPLICA_ROLE_JOINING) continue;
        const v1::NodeReplica* seen = state.Replica(r.node(), name, s.shard());
        if (seen == nullptr || seen->state() != v1::REPLICA_STATE_SERVING) continue;
        absl::StatusOr<v1::CollectionPlacement> next = FinishMove(placement, s.shard(), r.node());
        if (!next.ok()) {
          LOG(WARNING) << "finishing the move of " << name << " shard " << s.shard() << " to "
                       << r.node() << " failed: " << next.status();
          continue;
        }
        placement = *std::move(next);
        finished.push_back(absl::StrCat("shard ", s.shard(), " -> ", r.node()));
      }
    }
    if (finished.empty()) continue;
    absl::StatusOr<bool> swapped = ctx.view->store().SwapPlacement(placement, stored.mod_revision);
    if (swapped.ok() && *swapped) {
      LOG(INFO) << "collection '" << name << "': finished moves " << absl::StrJoin(finished, ", ");
    } else {
      LOG(WARNING) << "collection '" << name << "': finishing moves "
                   << absl::StrJoin(finished, ", ")
                   << " did not apply (retried at the next refresh): "
                   << (swapped.ok() ? "the placement changed meanwhile"
                                    : swapped.status().ToString());
    }
  }
}

}  // namespace latentsearch::search::cluster

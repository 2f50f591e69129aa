// Placement of shard replicas on nodes (placement.h).
// Thread-safety: pure functions.
#include "common/cluster/placement.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace latentsearch::cluster {
namespace {

std::vector<std::string> SortedUnique(const std::vector<std::string>& nodes) {
  std::vector<std::string> out = nodes;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::Status CheckShape(uint32_t shards, uint32_t replication_factor) {
  if (shards < 1 || shards > kMaxShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard count ", shards, " is outside 1..", kMaxShards));
  }
  if (replication_factor < 1 || replication_factor > kMaxReplicationFactor) {
    return absl::InvalidArgumentError(absl::StrCat("replication factor ", replication_factor,
                                                   " is outside 1..", kMaxReplicationFactor));
  }
  return absl::OkStatus();
}

// One shard during planning: the nodes holding it once moves finish.
struct PlanShard {
  std::string collection;
  uint32_t shard = 0;
  std::vector<std::string> nodes;   // Non-LEAVING replicas.
  std::vector<std::string> active;  // ACTIVE replicas (movable ones).
  bool frozen = false;              // Its collection has a move under way.
  bool moved = false;               // This plan already moves one of them.
};

bool Holds(const std::vector<std::string>& nodes, const std::string& node) {
  return std::find(nodes.begin(), nodes.end(), node) != nodes.end();
}

// The shards of `collections`, collections by name, shards in order.
std::vector<PlanShard> PlanShards(const std::vector<v1::CollectionPlacement>& collections) {
  std::vector<const v1::CollectionPlacement*> sorted;
  for (const auto& c : collections) sorted.push_back(&c);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
    return a->spec().name() < b->spec().name();
  });
  std::vector<PlanShard> out;
  for (const v1::CollectionPlacement* c : sorted) {
    const bool frozen = MoveInProgress(*c);
    for (const v1::ShardPlacement& s : c->shards()) {
      PlanShard p;
      p.collection = c->spec().name();
      p.shard = s.shard();
      p.frozen = frozen;
      for (const v1::ReplicaPlacement& r : s.replicas()) {
        if (r.role() != v1::REPLICA_ROLE_LEAVING) p.nodes.push_back(r.node());
        if (r.role() == v1::REPLICA_ROLE_ACTIVE) p.active.push_back(r.node());
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

// Nodes ordered by load (ascending or descending), ties by name.
std::vector<std::string> ByLoad(const std::map<std::string, uint32_t>& load, bool descending) {
  std::vector<std::string> out;
  for (const auto& [node, n] : load) out.push_back(node);  // Already by name.
  std::stable_sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) {
    return descending ? load.at(a) > load.at(b) : load.at(a) < load.at(b);
  });
  return out;
}

// The next move of the plan, or nullopt when balanced or stuck.
std::optional<v1::ReplicaMove> NextMove(std::vector<PlanShard>& shards,
                                        std::map<std::string, uint32_t>& load) {
  const std::vector<std::string> sources = ByLoad(load, /*descending=*/true);
  const std::vector<std::string> targets = ByLoad(load, /*descending=*/false);
  for (const std::string& from : sources) {
    for (const std::string& to : targets) {
      if (load[from] <= load[to] + 1) break;  // Later targets are fuller.
      for (PlanShard& s : shards) {
        if (s.frozen || s.moved || !Holds(s.active, from) || Holds(s.nodes, to)) continue;
        std::replace(s.nodes.begin(), s.nodes.end(), from, to);
        s.moved = true;
        --load[from];
        ++load[to];
        v1::ReplicaMove move;
        move.set_collection(s.collection);
        move.set_shard(s.shard);
        move.set_from_node(from);
        move.set_to_node(to);
        return move;
      }
    }
  }
  return std::nullopt;
}

// The index in placement.shards() of shard `shard`.
absl::StatusOr<int> FindShard(const v1::CollectionPlacement& placement, uint32_t shard) {
  for (int i = 0; i < placement.shards_size(); ++i) {
    if (placement.shards(i).shard() == shard) return i;
  }
  return absl::FailedPreconditionError(absl::StrCat("collection '", placement.spec().name(),
                                                    "' has no shard ", shard, " (it has ",
                                                    placement.shards_size(), ")"));
}

// The index of `node`'s replica with `role` in `shard`, or -1.
int FindReplica(const v1::ShardPlacement& shard, const std::string& node, v1::ReplicaRole role) {
  for (int i = 0; i < shard.replicas_size(); ++i) {
    const v1::ReplicaPlacement& r = shard.replicas(i);
    if (r.node() == node && (role == v1::REPLICA_ROLE_UNSPECIFIED || r.role() == role)) return i;
  }
  return -1;
}

std::string ShardName(const v1::CollectionPlacement& placement, uint32_t shard) {
  return absl::StrCat("shard ", shard, " of '", placement.spec().name(), "'");
}

// Finishes (keep_joining) or cancels the move onto `to_node` in `shard`.
absl::StatusOr<v1::CollectionPlacement> EndMove(const v1::CollectionPlacement& placement,
                                                uint32_t shard, const std::string& to_node,
                                                bool keep_joining) {
  absl::StatusOr<int> index = FindShard(placement, shard);
  if (!index.ok()) return index.status();
  v1::CollectionPlacement out = placement;
  v1::ShardPlacement* s = out.mutable_shards(*index);
  const int joining = FindReplica(*s, to_node, v1::REPLICA_ROLE_JOINING);
  if (joining < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", to_node, " has no joining replica of ", ShardName(placement, shard)));
  }
  google::protobuf::RepeatedPtrField<v1::ReplicaPlacement> kept;
  for (int i = 0; i < s->replicas_size(); ++i) {
    v1::ReplicaPlacement r = s->replicas(i);
    if (i == joining) {
      if (!keep_joining) continue;
      r.set_role(v1::REPLICA_ROLE_ACTIVE);
    } else if (r.role() == v1::REPLICA_ROLE_LEAVING) {
      if (keep_joining) continue;
      r.set_role(v1::REPLICA_ROLE_ACTIVE);
    }
    *kept.Add() = std::move(r);
  }
  s->mutable_replicas()->Swap(&kept);
  return out;
}

}  // namespace

std::map<std::string, uint32_t> ReplicasPerNode(
    const std::vector<v1::CollectionPlacement>& collections) {
  std::map<std::string, uint32_t> load;
  for (const v1::CollectionPlacement& c : collections) {
    for (const v1::ShardPlacement& s : c.shards()) {
      for (const v1::ReplicaPlacement& r : s.replicas()) {
        if (r.role() != v1::REPLICA_ROLE_LEAVING) ++load[r.node()];
      }
    }
  }
  return load;
}

bool MoveInProgress(const v1::CollectionPlacement& placement) {
  for (const v1::ShardPlacement& s : placement.shards()) {
    for (const v1::ReplicaPlacement& r : s.replicas()) {
      if (r.role() == v1::REPLICA_ROLE_JOINING || r.role() == v1::REPLICA_ROLE_LEAVING) {
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<std::vector<v1::ShardPlacement>> PlaceNewCollection(
    uint32_t shards, uint32_t replication_factor, const std::vector<std::string>& nodes,
    const std::map<std::string, uint32_t>& replicas_per_node) {
  if (absl::Status s = CheckShape(shards, replication_factor); !s.ok()) return s;
  const std::vector<std::string> names = SortedUnique(nodes);
  if (replication_factor > names.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "replication factor ", replication_factor, " needs ", replication_factor,
        " nodes; the cluster has ", names.size(),
        names.empty() ? " (no node registered)" : absl::StrCat(": ", absl::StrJoin(names, ", "))));
  }
  std::vector<uint32_t> load(names.size(), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = replicas_per_node.find(names[i]);
    if (it != replicas_per_node.end()) load[i] = it->second;
  }
  std::vector<v1::ShardPlacement> out(shards);
  for (uint32_t shard = 0; shard < shards; ++shard) {
    out[shard].set_shard(shard);
    std::vector<bool> used(names.size(), false);
    for (uint32_t r = 0; r < replication_factor; ++r) {
      size_t best = names.size();
      for (size_t i = 0; i < names.size(); ++i) {
        // Strict '<': the first (by name) of the least loaded wins ties.
        if (!used[i] && (best == names.size() || load[i] < load[best])) best = i;
      }
      used[best] = true;
      ++load[best];
      v1::ReplicaPlacement* replica = out[shard].add_replicas();
      replica->set_node(names[best]);
      replica->set_role(v1::REPLICA_ROLE_ACTIVE);
    }
  }
  return out;
}

std::vector<v1::ReplicaMove> PlanRebalance(const std::vector<v1::CollectionPlacement>& collections,
                                           const std::vector<std::string>& nodes) {
  std::map<std::string, uint32_t> load;
  for (const std::string& node : nodes) load[node] = 0;
  const std::map<std::string, uint32_t> held = ReplicasPerNode(collections);
  for (auto& [node, n] : load) {
    auto it = held.find(node);
    if (it != held.end()) n = it->second;
  }
  std::vector<PlanShard> shards = PlanShards(collections);
  std::vector<v1::ReplicaMove> moves;
  while (std::optional<v1::ReplicaMove> move = NextMove(shards, load)) {
    moves.push_back(std::move(*move));
  }
  return moves;
}

absl::StatusOr<v1::CollectionPlacement> StartMove(const v1::CollectionPlacement& placement,
                                                  const v1::ReplicaMove& move) {
  if (move.from_node().empty() || move.to_node().empty() || move.from_node() == move.to_node()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a replica move needs two different nodes; got from '", move.from_node(),
                     "' to '", move.to_node(), "'"));
  }
  if (move.collection() != placement.spec().name()) {
    return absl::FailedPreconditionError(absl::StrCat("a move of collection '", move.collection(),
                                                      "' does not apply to collection '",
                                                      placement.spec().name(), "'"));
  }
  absl::StatusOr<int> index = FindShard(placement, move.shard());
  if (!index.ok()) return index.status();
  const v1::ShardPlacement& shard = placement.shards(*index);
  const std::string name = ShardName(placement, move.shard());
  for (const v1::ReplicaPlacement& r : shard.replicas()) {
    if (r.role() == v1::REPLICA_ROLE_JOINING || r.role() == v1::REPLICA_ROLE_LEAVING) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, " already has a move under way (", r.node(), " is ",
                       r.role() == v1::REPLICA_ROLE_JOINING ? "joining" : "leaving", ")"));
    }
  }
  const int from = FindReplica(shard, move.from_node(), v1::REPLICA_ROLE_ACTIVE);
  if (from < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", move.from_node(), " holds no active replica of ", name));
  }
  if (FindReplica(shard, move.to_node(), v1::REPLICA_ROLE_UNSPECIFIED) >= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", move.to_node(), " already holds a replica of ", name));
  }
  v1::CollectionPlacement out = placement;
  v1::ShardPlacement* s = out.mutable_shards(*index);
  s->mutable_replicas(from)->set_role(v1::REPLICA_ROLE_LEAVING);
  v1::ReplicaPlacement* joining = s->add_replicas();
  joining->set_node(move.to_node());
  joining->set_role(v1::REPLICA_ROLE_JOINING);
  return out;
}

absl::StatusOr<v1::CollectionPlacement> FinishMove(const v1::CollectionPlacement& placement,
                                                   uint32_t shard, const std::string& to_node) {
  return EndMove(placement, shard, to_node, /*keep_joining=*/true);
}

absl::StatusOr<v1::CollectionPlacement> CancelMove(const v1::CollectionPlacement& placement,
                                                   uint32_t shard, const std::string& to_node) {
  return EndMove(placement, shard, to_node, /*keep_joining=*/false);
}

}  // namespace latentsearch::cluster

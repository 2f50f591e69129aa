// Create, drop, list, get and snapshot of clustered collections
// (router_collections.h).
// Thread-safety: stateless functions; they block on the store and nodes.
#include "services/search/cluster/router_collections.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/cluster/placement.h"
#include "services/search/cluster/router_validate.h"
#include "services/search/collection_manager.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::cluster::PlaceNewCollection;
using ::latentsearch::cluster::ReplicasPerNode;
using NodePolls = std::map<std::string, absl::StatusOr<v1::GetNodeStatusResponse>>;

// How often Create re-polls while waiting for the new replicas.
constexpr absl::Duration kReplicaPollInterval = absl::Milliseconds(20);

std::vector<std::string> NodesOf(const v1::CollectionPlacement& placement) {
  std::set<std::string> nodes;
  for (const v1::ShardPlacement& s : placement.shards()) {
    for (const v1::ReplicaPlacement& r : s.replicas()) nodes.insert(r.node());
  }
  return std::vector<std::string>(nodes.begin(), nodes.end());
}

const v1::NodeReplica* Reported(const NodePolls& polls, const std::string& node,
                                const v1::ShardRef& ref) {
  auto it = polls.find(node);
  if (it == polls.end() || !it->second.ok()) return nullptr;
  for (const v1::NodeReplica& r : it->second->replicas()) {
    if (r.ref().collection() == ref.collection() && r.ref().shard() == ref.shard()) return &r;
  }
  return nullptr;
}

absl::StatusOr<v1::CollectionInfo> AnswerExisting(const v1::CollectionPlacement& existing,
                                                  const v1::CreateCollectionRequest& spec,
                                                  bool if_not_exists) {
  if (if_not_exists && SameSettings(existing.spec(), spec)) return InfoFromPlacement(existing);
  return absl::AlreadyExistsError(absl::StrCat(
      "collection '", spec.name(), "' already exists (", DescribeSettings(existing.spec()), ")",
      SameSettings(existing.spec(), spec)
          ? "; pass if_not_exists to use it"
          : absl::StrCat("; this request asks for ", DescribeSettings(spec))));
}

// Replicas placed over the registered nodes, spreading the cluster's load.
absl::StatusOr<v1::CollectionPlacement> Place(const RouterContext& ctx,
                                              const v1::CreateCollectionRequest& spec) {
  LS_ASSIGN_OR_RETURN(std::vector<v1::NodeRecord> records, ctx.view->store().ReadNodes());
  LS_ASSIGN_OR_RETURN(std::vector<StoredPlacement> stored, ctx.view->store().ReadPlacements());
  std::vector<std::string> nodes;
  for (const v1::NodeRecord& n : records) nodes.push_back(n.address());
  std::vector<v1::CollectionPlacement> placements;
  for (StoredPlacement& s : stored) placements.push_back(std::move(s.placement));
  LS_ASSIGN_OR_RETURN(std::vector<v1::ShardPlacement> shards,
                      PlaceNewCollection(spec.shards(), spec.replication_factor(), nodes,
                                         ReplicasPerNode(placements)));
  v1::CollectionPlacement placement;
  *placement.mutable_spec() = spec;
  placement.set_created_at_us(absl::ToUnixMicros(absl::Now()));
  for (v1::ShardPlacement& s : shards) *placement.add_shards() = std::move(s);
  return placement;
}

absl::Status CheckNodesAnswer(const RouterContext& ctx, const v1::CollectionPlacement& placement,
                              absl::Time deadline) {
  for (auto& [node, poll] : ctx.view->Poll(NodesOf(placement), deadline)) {
    if (!poll.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "node ", node, " does not answer (", poll.status().ToString(), "); collection '",
          placement.spec().name(), "' would have replicas there: nothing was created"));
    }
  }
  return absl::OkStatus();
}

// Polls the placement's nodes until each reports its replicas serving (a
// new replica catches up for two refresh intervals first, docs/cluster.md),
// so that a search right after CreateCollection answers; or until
// `deadline`: UNAVAILABLE naming the replicas not serving then.
absl::Status WaitForReplicas(const RouterContext& ctx, const v1::CollectionPlacement& placement,
                             absl::Time deadline) {
  const std::vector<std::string> nodes = NodesOf(placement);
  while (true) {
    const NodePolls polls = ctx.view->Poll(nodes, deadline);
    std::vector<std::string> missing;
    for (const v1::ShardPlacement& s : placement.shards()) {
      v1::ShardRef ref;
      ref.set_collection(placement.spec().name());
      ref.set_shard(s.shard());
      for (const v1::ReplicaPlacement& r : s.replicas()) {
        const v1::NodeReplica* seen = Reported(polls, r.node(), ref);
        if (seen == nullptr) {
          missing.push_back(absl::StrCat("shard ", s.shard(), " on ", r.node(), " (not made)"));
        } else if (seen->state() != v1::REPLICA_STATE_SERVING) {
          missing.push_back(absl::StrCat("shard ", s.shard(), " on ", r.node(), " (catching up)"));
        }
      }
    }
    if (missing.empty()) return absl::OkStatus();
    if (absl::Now() + kReplicaPollInterval >= deadline) {
      return absl::UnavailableError(absl::StrCat(
          "collection '", placement.spec().name(),
          "' was created, but these replicas do not serve yet: ", absl::StrJoin(missing, ", "),
          "; searches may fail until they do (CreateCollection with if_not_exists waits "
          "again)"));
    }
    absl::SleepFor(kReplicaPollInterval);
  }
}

// Per collection, item_count summed over one replica per shard.
// Adds one shard replica's statistics into a collection's totals: counts
// and bytes sum, index states take the least ready, build times the
// slowest.
void AddShardStats(const v1::CollectionInfo& shard, v1::CollectionInfo* total) {
  total->set_deleted_count(total->deleted_count() + shard.deleted_count());
  total->set_disk_bytes(total->disk_bytes() + shard.disk_bytes());
  if (shard.updated_at().seconds() > total->updated_at().seconds()) {
    *total->mutable_updated_at() = shard.updated_at();
  }
  for (const v1::IndexStats& s : shard.indexes()) {
    v1::IndexStats* t = nullptr;
    for (v1::IndexStats& have : *total->mutable_indexes()) {
      if (have.metric() == s.metric() && have.kind() == s.kind()) t = &have;
    }
    if (t == nullptr) {
      *total->add_indexes() = s;
      continue;
    }
    t->set_items(t->items() + s.items());
    t->set_memory_bytes(t->memory_bytes() + s.memory_bytes());
    t->set_last_build_seconds(std::max(t->last_build_seconds(), s.last_build_seconds()));
    if (s.state() != v1::INDEX_STATE_READY) t->set_state(s.state());
    if (s.built_at().seconds() < t->built_at().seconds()) *t->mutable_built_at() = s.built_at();
  }
}

// Per collection, the counts, bytes and index statistics summed over one
// replica per shard (the serving one with the most items; any reporting one
// when none serves).
void FillCounts(const RouterContext& ctx, const std::vector<StoredPlacement>& placements,
                absl::Time deadline, std::vector<v1::CollectionInfo>* infos) {
  std::set<std::string> nodes;
  for (const StoredPlacement& p : placements) {
    for (const std::string& n : NodesOf(p.placement)) nodes.insert(n);
  }
  const NodePolls polls =
      ctx.view->Poll(std::vector<std::string>(nodes.begin(), nodes.end()), deadline);
  for (size_t i = 0; i < placements.size(); ++i) {
    const v1::CollectionPlacement& p = placements[i].placement;
    uint64_t total = 0;
    for (const v1::ShardPlacement& s : p.shards()) {
      v1::ShardRef ref;
      ref.set_collection(p.spec().name());
      ref.set_shard(s.shard());
      const v1::NodeReplica *best = nullptr, *any = nullptr;
      for (const v1::ReplicaPlacement& r : s.replicas()) {
        const v1::NodeReplica* seen = Reported(polls, r.node(), ref);
        if (seen == nullptr || r.role() == v1::REPLICA_ROLE_JOINING) continue;
        if (any == nullptr || seen->item_count() > any->item_count()) any = seen;
        if (seen->state() != v1::REPLICA_STATE_SERVING) continue;
        if (best == nullptr || seen->item_count() > best->item_count()) best = seen;
      }
      if (best == nullptr) best = any;
      if (best == nullptr) continue;
      total += best->item_count();
      AddShardStats(best->local(), &(*infos)[i]);
    }
    (*infos)[i].set_item_count(total);
  }
}

}  // namespace

absl::StatusOr<StoredPlacement> FindPlacement(const RouterContext& ctx, const std::string& name) {
  const std::shared_ptr<const ViewState> state = ctx.view->Current();
  if (const StoredPlacement* p = state->Find(name)) return *p;
  LS_ASSIGN_OR_RETURN(std::optional<StoredPlacement> stored, ctx.view->store().ReadPlacement(name));
  if (!stored) return UnknownCollection(name);
  return *std::move(stored);
}

absl::StatusOr<v1::CollectionInfo> CreateClusteredCollection(
    const RouterContext& ctx, const v1::CreateCollectionRequest& request, absl::Time deadline) {
  LS_ASSIGN_OR_RETURN(v1::CreateCollectionRequest spec,
                      PlacementSpec(request, ctx.options->max_dim));
  deadline = ctx.Bound(deadline);
  RouterPlacementStore& store = ctx.view->store();
  LS_ASSIGN_OR_RETURN(std::optional<StoredPlacement> existing, store.ReadPlacement(spec.name()));
  if (existing) return AnswerExisting(existing->placement, spec, request.if_not_exists());
  LS_ASSIGN_OR_RETURN(v1::CollectionPlacement placement, Place(ctx, spec));
  LS_RETURN_IF_ERROR(CheckNodesAnswer(ctx, placement, deadline));
  LS_ASSIGN_OR_RETURN(bool created, store.CreatePlacement(placement));
  if (!created) {
    // Another router created it meanwhile.
    LS_ASSIGN_OR_RETURN(existing, store.ReadPlacement(spec.name()));
    if (!existing) {
      return absl::AbortedError(absl::StrCat("collection '", spec.name(),
                                             "' was created and dropped by another router "
                                             "meanwhile; try again"));
    }
    placement = existing->placement;
    if (!request.if_not_exists() || !SameSettings(placement.spec(), spec)) {
      return AnswerExisting(placement, spec, request.if_not_exists());
    }
  } else {
    LOG(INFO) << "created collection '" << spec.name() << "' (" << DescribeSettings(spec) << ")";
  }
  LS_RETURN_IF_ERROR(WaitForReplicas(ctx, placement, deadline));
  if (absl::Status s = ctx.view->Refresh(); !s.ok()) {
    LOG(WARNING) << "refresh after creating '" << spec.name() << "' failed: " << s;
  }
  return InfoFromPlacement(placement);
}

absl::Status DropClusteredCollection(const RouterContext& ctx, const std::string& name) {
  LS_RETURN_IF_ERROR(CollectionManager::ValidateName(name));
  // A move finishing between the read and the delete changes the revision:
  // read again.
  for (int attempt = 0; attempt < 5; ++attempt) {
    LS_ASSIGN_OR_RETURN(std::optional<StoredPlacement> stored,
                        ctx.view->store().ReadPlacement(name));
    if (!stored) return absl::NotFoundError(absl::StrCat("no collection named '", name, "'"));
    LS_ASSIGN_OR_RETURN(bool deleted,
                        ctx.view->store().DeletePlacement(name, stored->mod_revision));
    if (deleted) {
      LOG(INFO) << "dropped collection '" << name << "'";
      if (absl::Status s = ctx.view->Refresh(); !s.ok()) {
        LOG(WARNING) << "refresh after dropping '" << name << "' failed: " << s;
      }
      return absl::OkStatus();
    }
  }
  return absl::AbortedError(
      absl::StrCat("collection '", name, "' kept changing while being dropped; try again"));
}

absl::StatusOr<v1::ListCollectionsResponse> ListClusteredCollections(const RouterContext& ctx,
                                                                     absl::Time deadline) {
  absl::StatusOr<std::vector<StoredPlacement>> placements = ctx.view->store().ReadPlacements();
  if (!placements.ok()) {
    LOG(WARNING) << "ListCollections: reading the placement failed, answering from the last "
                    "one read: "
                 << placements.status();
    placements.emplace();
    for (const auto& [name, p] : ctx.view->Current()->collections) placements->push_back(p);
  }
  std::vector<v1::CollectionInfo> infos;
  for (const StoredPlacement& p : *placements) infos.push_back(InfoFromPlacement(p.placement));
  FillCounts(ctx, *placements, ctx.Bound(deadline), &infos);
  v1::ListCollectionsResponse out;
  for (v1::CollectionInfo& info : infos) *out.add_collections() = std::move(info);
  std::sort(
      out.mutable_collections()->begin(), out.mutable_collections()->end(),
      [](const v1::CollectionInfo& a, const v1::CollectionInfo& b) { return a.name() < b.name(); });
  return out;
}

absl::StatusOr<v1::CollectionInfo> GetClusteredCollection(const RouterContext& ctx,
                                                          const std::string& name,
                                                          absl::Time deadline) {
  LS_ASSIGN_OR_RETURN(StoredPlacement placement, FindPlacement(ctx, name));
  std::vector<v1::CollectionInfo> infos = {InfoFromPlacement(placement.placement)};
  FillCounts(ctx, {placement}, ctx.Bound(deadline), &infos);
  return infos[0];
}

absl::StatusOr<v1::SnapshotResponse> SnapshotClusteredCollection(const RouterContext& ctx,
                                                                 const v1::SnapshotRequest& request,
                                                                 absl::Time deadline) {
  std::set<std::string> nodes;
  if (request.collection().empty()) {
    LS_ASSIGN_OR_RETURN(std::vector<StoredPlacement> all, ctx.view->store().ReadPlacements());
    for (const StoredPlacement& p : all) {
      for (const std::string& n : NodesOf(p.placement)) nodes.insert(n);
    }
  } else {
    LS_ASSIGN_OR_RETURN(StoredPlacement p, FindPlacement(ctx, request.collection()));
    for (const std::string& n : NodesOf(p.placement)) nodes.insert(n);
  }
  auto snapshot = std::make_shared<const v1::SnapshotRequest>(request);
  std::vector<std::pair<std::string, absl::StatusOr<v1::SnapshotResponse>>> answers;
  for (const std::string& n : nodes) answers.emplace_back(n, absl::UnknownError("unset"));
  absl::BlockingCounter answered(static_cast<int>(answers.size()));
  deadline = ctx.Bound(deadline);
  for (auto& [node, answer] : answers) {
    absl::StatusOr<std::shared_ptr<NodeClient>> client = ctx.view->Client(node);
    if (!client.ok()) {
      answer = client.status();
      answered.DecrementCount();
      continue;
    }
    (*client)->SnapshotShards(
        snapshot, deadline, nullptr,
        [&answer = answer, &answered](absl::StatusOr<v1::SnapshotResponse> r) {
          answer = std::move(r);
          answered.DecrementCount();
        });
  }
  answered.Wait();
  v1::SnapshotResponse out;
  for (auto& [node, answer] : answers) {
    if (!answer.ok()) {
      return absl::Status(answer.status().code(),
                          absl::StrCat("snapshot on node ", node, ": ", answer.status().message()));
    }
    for (v1::SnapshotInfo& info : *answer->mutable_snapshots()) {
      *out.add_snapshots() = std::move(info);
    }
  }
  return out;
}

}  // namespace latentsearch::search::cluster

// Where a clustered collection's shard replicas live (v1::CollectionPlacement,
// stored in etcd by the routers): placing a new collection, planning a
// rebalance after nodes joined, and the two steps of one replica move.
//
// Invariants every function keeps: no two replicas of one shard on one node;
// at most one move per shard at a time (one JOINING and one LEAVING replica,
// so a shard never has fewer than replication_factor - 1 ACTIVE copies).
// A node's load is the number of replicas it holds once running moves finish
// (ACTIVE and JOINING; LEAVING ones do not count).
//
// All functions are deterministic: equal inputs give equal outputs (ties are
// broken by node name, collections are visited by name, shards in order).
//
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_CLUSTER_PLACEMENT_H_
#define LATENTSEARCH_COMMON_CLUSTER_PLACEMENT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "latentsearch/v1/cluster.pb.h"

namespace latentsearch::cluster {

// CreateCollectionRequest.shards and .replication_factor ranges.
inline constexpr uint32_t kMaxShards = 256;
inline constexpr uint32_t kMaxReplicationFactor = 7;

// Each node's load over `collections` (nodes without replicas are absent).
std::map<std::string, uint32_t> ReplicasPerNode(
    const std::vector<v1::CollectionPlacement>& collections);

// True when some replica of `placement` is JOINING or LEAVING.
bool MoveInProgress(const v1::CollectionPlacement& placement);

// Shards 0..shards-1, each with `replication_factor` ACTIVE replicas on
// distinct nodes of `nodes` (duplicates ignored), chosen one at a time as
// the least loaded node (counting `replicas_per_node`, the existing
// collections' load, and the replicas placed so far; ties by node name).
// INVALID_ARGUMENT for shards outside 1..256 or replication_factor outside
// 1..7; FAILED_PRECONDITION when replication_factor > the number of nodes
// ("replication factor 3 needs 3 nodes; the cluster has 2: a, b").
absl::StatusOr<std::vector<v1::ShardPlacement>> PlaceNewCollection(
    uint32_t shards, uint32_t replication_factor, const std::vector<std::string>& nodes,
    const std::map<std::string, uint32_t>& replicas_per_node);

// Moves that even out the load of `nodes`: repeatedly an ACTIVE replica from
// the most loaded node that has a movable one to the least loaded node that
// may take it (no replica of that shard yet), while their loads differ by
// more than 1. Collections with a move in progress are left alone (their
// replicas still count towards the load) and at most one replica per shard
// moves per plan, so a plan can stop short of balance; planning again after
// its moves finished continues. Replicas on nodes not in `nodes` stay where
// they are and count for no node. Empty when the loads are balanced
// (max - min <= 1) or no replica can move.
std::vector<v1::ReplicaMove> PlanRebalance(const std::vector<v1::CollectionPlacement>& collections,
                                           const std::vector<std::string>& nodes);

// `placement` with the move started: move.to_node gains a JOINING replica of
// move.shard (appended), move.from_node's ACTIVE replica becomes LEAVING.
// INVALID_ARGUMENT when from_node or to_node is empty or they are equal;
// FAILED_PRECONDITION when the move does not apply: another collection, no
// such shard, the shard already has a move under way, from_node holds no
// ACTIVE replica of it, or to_node already holds a replica of it.
absl::StatusOr<v1::CollectionPlacement> StartMove(const v1::CollectionPlacement& placement,
                                                  const v1::ReplicaMove& move);

// `placement` with the move onto `to_node` finished: its JOINING replica of
// `shard` becomes ACTIVE and the shard's LEAVING replica (if any) is removed.
// FAILED_PRECONDITION when there is no such shard or `to_node` holds no
// JOINING replica of it.
absl::StatusOr<v1::CollectionPlacement> FinishMove(const v1::CollectionPlacement& placement,
                                                   uint32_t shard, const std::string& to_node);

// `placement` with the move onto `to_node` abandoned (the new copy could not
// catch up): its JOINING replica is removed and the shard's LEAVING replica
// becomes ACTIVE again. Errors as FinishMove.
absl::StatusOr<v1::CollectionPlacement> CancelMove(const v1::CollectionPlacement& placement,
                                                   uint32_t shard, const std::string& to_node);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_PLACEMENT_H_

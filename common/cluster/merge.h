// Merging per-shard top-k neighbour lists into the global top-k: what a
// router does with the answers of one replica per shard.
//
// The order is the single node's (SearchResponse.neighbors: "closest first;
// ties broken by id"): ascending distance, then id compared byte-wise
// (unsigned), then (for equal id and distance, which only duplicated input
// produces) the lower shard index first. A NaN distance sorts after every
// number. Each input list must already be in that order (a node's answer
// is); the merge is then a k-way heap merge, O(k log shards), and moves the
// neighbours instead of copying them.
//
// Thread-safety: pure functions; the caller owns the lists.
#ifndef LATENTSEARCH_COMMON_CLUSTER_MERGE_H_
#define LATENTSEARCH_COMMON_CLUSTER_MERGE_H_

#include <cstddef>
#include <vector>

#include "latentsearch/v1/search.pb.h"

namespace latentsearch::cluster {

// True when `a` comes strictly before `b`: (distance, id byte-wise).
bool NeighborBefore(const v1::Neighbor& a, const v1::Neighbor& b);

// The first min(k, total) neighbours of the union of `per_shard` (each list
// sorted by NeighborBefore), moved out of the lists.
std::vector<v1::Neighbor> MergeTopK(std::vector<std::vector<v1::Neighbor>>&& per_shard, size_t k);

// The same over protobuf fields, for a router holding the shards' responses
// (e.g. per_shard[s] = shard_response[s].mutable_results(q)->mutable_neighbors()):
// appends the merged top-k to `*out`, moving the neighbours out of the
// per-shard fields (those are left with moved-from elements). Null entries
// of `per_shard` count as empty. `out` must not be one of `per_shard`.
void MergeTopKInto(const std::vector<google::protobuf::RepeatedPtrField<v1::Neighbor>*>& per_shard,
                   size_t k, google::protobuf::RepeatedPtrField<v1::Neighbor>* out);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_MERGE_H_

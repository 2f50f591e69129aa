// Which shard an item id belongs to: a stable contract.
//
// ShardOf(id, shards) = FNV-1a 64-bit over the id's bytes (offset basis
// 14695981039346656037, prime 1099511628211, no seed, no normalisation of
// the bytes), modulo `shards`. Data written by a cluster is placed by this
// mapping, routers and nodes of different builds must agree on it, and
// docs/cluster.md and search.proto (CreateCollectionRequest.shards) state it:
// it never changes. tests/unit/cluster/shard_hash_test.cc pins golden values
// computed independently.
//
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_CLUSTER_SHARD_HASH_H_
#define LATENTSEARCH_COMMON_CLUSTER_SHARD_HASH_H_

#include <cstdint>
#include <string_view>

namespace latentsearch::cluster {

inline constexpr uint64_t kFnv1a64OffsetBasis = 14695981039346656037ull;
inline constexpr uint64_t kFnv1a64Prime = 1099511628211ull;

// FNV-1a 64-bit of `bytes`.
uint64_t Fnv1a64(std::string_view bytes);

// The shard (0..shards-1) holding `id`. `shards` must be at least 1 (a
// collection's shard count, 0 already resolved to 1); 0 answers 0.
uint32_t ShardOf(std::string_view id, uint32_t shards);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_SHARD_HASH_H_

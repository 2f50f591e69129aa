// Write consistency levels: how many replicas of a shard must have made a
// write durable before a router acknowledges it, and their names on the
// command line ("one", "quorum", "all").
//
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_CLUSTER_CONSISTENCY_H_
#define LATENTSEARCH_COMMON_CLUSTER_CONSISTENCY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "latentsearch/v1/search.pb.h"

namespace latentsearch::cluster {

// Acknowledgements a write needs with `replication_factor` replicas: ONE 1,
// QUORUM replication_factor / 2 + 1, ALL replication_factor. The caller
// resolves UNSPECIFIED to the collection's default first; here it counts as
// QUORUM (the collection default's default). A replication_factor of 0
// counts as 1. Always in 1..max(1, replication_factor).
uint32_t RequiredAcks(v1::ConsistencyLevel level, uint32_t replication_factor);

// "one", "quorum" or "all" (any case) -> the level; "" -> UNSPECIFIED (a
// flag left empty: the collection's default). INVALID_ARGUMENT naming the
// accepted words otherwise.
absl::StatusOr<v1::ConsistencyLevel> ParseConsistencyLevel(std::string_view text);

// "one", "quorum", "all", or "default" for UNSPECIFIED (and unknown values).
std::string ConsistencyLevelName(v1::ConsistencyLevel level);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_CONSISTENCY_H_

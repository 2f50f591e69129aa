// A router's checks of client requests, made before anything is sent to a
// node, with the standalone server's messages (collection_manager.cc,
// convert.cc): the same error contract through a router, and no write half
// sent because one shard's node refused it. Also the placement's stored
// spec (a CreateCollectionRequest with every default filled in) and the
// CollectionInfo a router builds from it.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_VALIDATE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_VALIDATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "latentsearch/v1/cluster.pb.h"
#include "latentsearch/v1/search.pb.h"

namespace latentsearch::search::cluster {

// The spec stored in the placement: name, dim and HNSW checked by
// search::ConfigFromSpec, shards 1..256 and replication_factor 1..7 (0 = 1),
// a known write_consistency (UNSPECIFIED = QUORUM); defaults filled in
// (hnsw, metrics, index_kinds, model name), if_not_exists cleared.
// INVALID_ARGUMENT says what is allowed.
absl::StatusOr<v1::CreateCollectionRequest> PlacementSpec(
    const v1::CreateCollectionRequest& request, uint32_t max_dim);
// Whether two filled specs describe the same collection.
bool SameSettings(const v1::CreateCollectionRequest& a, const v1::CreateCollectionRequest& b);
// "dim 8, model m v1, metrics l1/l2/cosine, exact+hnsw (m 16, ...), 2 shards
// x 3 replicas, writes quorum".
std::string DescribeSettings(const v1::CreateCollectionRequest& spec);

// The definition part of a CollectionInfo (counts left 0).
v1::CollectionInfo InfoFromPlacement(const v1::CollectionPlacement& placement);

// A write's level: `requested` (a request's override; an int, as proto3
// enums carry unknown values) or else the collection's default; never
// UNSPECIFIED. INVALID_ARGUMENT for an unknown value.
absl::StatusOr<v1::ConsistencyLevel> WriteLevel(int requested,
                                                const v1::CreateCollectionRequest& spec);

// Every item of Upsert message number `message` (1-based) for a collection
// of `dim`: vector length and finiteness, id 1..256 bytes, uri at most
// 2 KiB, label -1 or more.
absl::Status ValidateItems(const v1::UpsertRequest& request, uint32_t dim, int message,
                           const std::string& collection);

// A vector or item_id query (not an image one) against the collection:
// its query, metric and index kind values, vector dim and finiteness, k in
// 1..max_k (0 = 10), ef, and that the collection keeps the metric and the
// index kind. `where` prefixes messages ("query 3: " in batches).
absl::Status ValidateQuery(const v1::SearchRequest& request,
                           const v1::CreateCollectionRequest& spec, uint32_t max_k,
                           const std::string& where);
// The knobs of any query (also image ones): metric, index kind, k, ef,
// and that the collection keeps the metric and index kind.
absl::Status ValidateQueryOptions(const v1::SearchRequest& request,
                                  const v1::CreateCollectionRequest& spec, uint32_t max_k,
                                  const std::string& where);

// NOT_FOUND for an unknown collection, as the standalone server words it.
absl::Status UnknownCollection(const std::string& name);

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_VALIDATE_H_

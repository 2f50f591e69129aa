// A router's collection calls (docs/cluster.md): creating and dropping a
// clustered collection in the placement store, and describing collections
// with their shards' item counts. Blocking: run them on a worker thread.
//
// Create: the spec is validated and filled (router_validate.h); an existing
// collection of the name is answered (if_not_exists and the same settings)
// or refused ALREADY_EXISTS naming both settings; else the replicas are
// placed over the registered nodes (cluster::PlaceNewCollection:
// FAILED_PRECONDITION when the replication factor exceeds the nodes), every
// node the placement uses must answer (UNAVAILABLE naming it, nothing
// created), and the placement is stored only if the name is still free
// (two routers creating it at once: one wins, the other answers as above).
// Nodes create their replicas when they next read the placement, and a new
// replica catches up for two refresh intervals before it serves; Create
// waits (bounded by the deadline) until every replica serves, so that
// writes and searches right after it succeed.
//
// Drop removes the placement at the revision read (nodes drop their
// replicas themselves). Counts (List, Get): item_count summed over one
// replica per shard, from a fresh GetNodeStatus poll: the serving ACTIVE or
// LEAVING replica with the most items. The SearchNode API carries no
// deleted counts, disk sizes or index stats: those stay 0 / empty.
//
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_COLLECTIONS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_COLLECTIONS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/cluster/router_context.h"

namespace latentsearch::search::cluster {

absl::StatusOr<v1::CollectionInfo> CreateClusteredCollection(
    const RouterContext& ctx, const v1::CreateCollectionRequest& request, absl::Time deadline);
absl::Status DropClusteredCollection(const RouterContext& ctx, const std::string& name);
absl::StatusOr<v1::ListCollectionsResponse> ListClusteredCollections(const RouterContext& ctx,
                                                                     absl::Time deadline);
absl::StatusOr<v1::CollectionInfo> GetClusteredCollection(const RouterContext& ctx,
                                                          const std::string& name,
                                                          absl::Time deadline);
// SnapshotShards on every node holding a replica of the collection (all
// collections for ""); one SnapshotInfo per replica snapshotted.
// UNAVAILABLE naming a node that failed.
absl::StatusOr<v1::SnapshotResponse> SnapshotClusteredCollection(const RouterContext& ctx,
                                                                 const v1::SnapshotRequest& request,
                                                                 absl::Time deadline);

// The placement of `name`: the view's, else read from the store (created
// through another router since the last refresh). NOT_FOUND when unknown.
absl::StatusOr<StoredPlacement> FindPlacement(const RouterContext& ctx, const std::string& name);

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_COLLECTIONS_H_

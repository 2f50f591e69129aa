// Where a router reads and changes the cluster's placement: every
// collection's CollectionPlacement with the revision it was read at, and the
// registered nodes. In production this is etcd through the records shared
// with the nodes (common/cluster/placement_store.h; router_etcd_store.h
// adapts it); tests may use their own implementation.
//
// Every change is conditional, so that two routers never both win: a create
// only when the name is free, a swap or delete only at the revision the
// caller read. A lost condition is not an error: the call answers false.
// Errors mean the store could not be asked (UNAVAILABLE naming it) or held
// a record that does not parse (DATA_LOSS naming the key).
//
// Thread-safety: implementations must be thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_PLACEMENT_STORE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_PLACEMENT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cluster/placement_store.h"
#include "latentsearch/v1/cluster.pb.h"

namespace latentsearch::search::cluster {

// A placement and the store revision of its last change (mod_revision).
using StoredPlacement = ::latentsearch::cluster::StoredPlacement;

class RouterPlacementStore {
 public:
  virtual ~RouterPlacementStore() = default;

  // Every collection, sorted by name.
  virtual absl::StatusOr<std::vector<StoredPlacement>> ReadPlacements() = 0;
  // One collection; nullopt when there is none of that name.
  virtual absl::StatusOr<std::optional<StoredPlacement>> ReadPlacement(const std::string& name) = 0;
  // Registered nodes, sorted by address.
  virtual absl::StatusOr<std::vector<v1::NodeRecord>> ReadNodes() = 0;

  // Stores `placement` under its spec's name unless the name is taken
  // (false then).
  virtual absl::StatusOr<bool> CreatePlacement(const v1::CollectionPlacement& placement) = 0;
  // Replaces the placement if it is still at `mod_revision` (false otherwise).
  virtual absl::StatusOr<bool> SwapPlacement(const v1::CollectionPlacement& placement,
                                             int64_t mod_revision) = 0;
  // Removes `name` if it is still at `mod_revision` (false otherwise).
  virtual absl::StatusOr<bool> DeletePlacement(const std::string& name, int64_t mod_revision) = 0;

  // For messages: "etcd at http://127.0.0.1:2379".
  virtual std::string Describe() const = 0;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_PLACEMENT_STORE_H_

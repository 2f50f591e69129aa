// The router's RouterPlacementStore in etcd: an adapter over the placement
// records shared with the nodes (common/cluster/placement_store.h:
// /latentsearch/collections/<name> and /latentsearch/nodes/<address>, JSON in
// protobuf's mapping; creates, swaps and deletes are etcd transactions on
// the key's revision).
// Thread-safety: thread-safe (the store and EtcdClient are).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_ETCD_STORE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_ETCD_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cluster/placement_store.h"
#include "services/search/cluster/router_placement_store.h"

namespace latentsearch::search::cluster {

class EtcdRouterStore final : public RouterPlacementStore {
 public:
  explicit EtcdRouterStore(std::shared_ptr<::latentsearch::cluster::PlacementStore> store)
      : store_(std::move(store)) {}
  // Over an EtcdClient for `endpoints` (default options otherwise).
  static absl::StatusOr<std::unique_ptr<EtcdRouterStore>> Create(
      const std::vector<std::string>& endpoints);

  absl::StatusOr<std::vector<StoredPlacement>> ReadPlacements() override;
  absl::StatusOr<std::optional<StoredPlacement>> ReadPlacement(const std::string& name) override;
  absl::StatusOr<std::vector<v1::NodeRecord>> ReadNodes() override;
  absl::StatusOr<bool> CreatePlacement(const v1::CollectionPlacement& placement) override;
  absl::StatusOr<bool> SwapPlacement(const v1::CollectionPlacement& placement,
                                     int64_t mod_revision) override;
  absl::StatusOr<bool> DeletePlacement(const std::string& name, int64_t mod_revision) override;
  std::string Describe() const override;

 private:
  // The store's error with the endpoints named.
  absl::Status Named(const absl::Status& status) const;

  const std::shared_ptr<::latentsearch::cluster::PlacementStore> store_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_ETCD_STORE_H_

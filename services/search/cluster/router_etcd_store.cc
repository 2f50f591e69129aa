// RouterPlacementStore over the shared etcd placement records
// (router_etcd_store.h).
// Thread-safety: stateless adapter over a thread-safe store.
#include "services/search/cluster/router_etcd_store.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "google/protobuf/util/message_differencer.h"

namespace latentsearch::search::cluster {

using ::latentsearch::cluster::EtcdClient;
using ::latentsearch::cluster::PlacementStore;

absl::StatusOr<std::unique_ptr<EtcdRouterStore>> EtcdRouterStore::Create(
    const std::vector<std::string>& endpoints) {
  EtcdClient::Options options;
  options.endpoints = endpoints;
  LS_ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> etcd, EtcdClient::Create(options));
  return std::make_unique<EtcdRouterStore>(
      std::make_shared<PlacementStore>(std::shared_ptr<EtcdClient>(std::move(etcd))));
}

std::string EtcdRouterStore::Describe() const {
  return absl::StrCat("etcd at ", absl::StrJoin(store_->endpoints(), ","));
}

absl::Status EtcdRouterStore::Named(const absl::Status& status) const {
  if (status.ok() || absl::StrContains(status.message(), "etcd")) return status;
  return absl::Status(status.code(), absl::StrCat(Describe(), ": ", status.message()));
}

absl::StatusOr<std::vector<StoredPlacement>> EtcdRouterStore::ReadPlacements() {
  absl::StatusOr<std::vector<StoredPlacement>> placements = store_->ReadPlacements();
  if (!placements.ok()) return Named(placements.status());
  return placements;
}

absl::StatusOr<std::optional<StoredPlacement>> EtcdRouterStore::ReadPlacement(
    const std::string& name) {
  absl::StatusOr<StoredPlacement> placement = store_->ReadPlacement(name);
  if (absl::IsNotFound(placement.status())) return std::optional<StoredPlacement>();
  if (!placement.ok()) return Named(placement.status());
  return std::optional<StoredPlacement>(*std::move(placement));
}

absl::StatusOr<std::vector<v1::NodeRecord>> EtcdRouterStore::ReadNodes() {
  absl::StatusOr<std::vector<v1::NodeRecord>> nodes = store_->ReadNodes();
  if (!nodes.ok()) return Named(nodes.status());
  return nodes;
}

absl::StatusOr<bool> EtcdRouterStore::CreatePlacement(const v1::CollectionPlacement& placement) {
  StoredPlacement existing;
  absl::StatusOr<bool> created = store_->Create(placement, &existing);
  if (!created.ok()) return Named(created.status());
  // A request retried on another endpoint after our own first try was
  // applied finds our own record (etcd_client.h).
  if (!*created &&
      google::protobuf::util::MessageDifferencer::Equals(existing.placement, placement)) {
    return true;
  }
  return *created;
}

absl::StatusOr<bool> EtcdRouterStore::SwapPlacement(const v1::CollectionPlacement& placement,
                                                    int64_t mod_revision) {
  absl::StatusOr<bool> swapped = store_->Update(placement, mod_revision);
  if (!swapped.ok()) return Named(swapped.status());
  return *swapped;
}

absl::StatusOr<bool> EtcdRouterStore::DeletePlacement(const std::string& name,
                                                      int64_t mod_revision) {
  absl::StatusOr<bool> deleted = store_->Remove(name, mod_revision);
  if (!deleted.ok()) return Named(deleted.status());
  return *deleted;
}

}  // namespace latentsearch::search::cluster

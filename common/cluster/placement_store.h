// The cluster's placement in etcd (docs/cluster.md): one JSON record per
// collection under /latentsearch/collections/<name> (v1::CollectionPlacement)
// and one per node under /latentsearch/nodes/<address> (v1::NodeRecord),
// in protobuf's JSON mapping. Creating is a create-if-absent transaction and
// every change a compare-and-swap on the record's revision, so two routers
// never both win.
// Thread-safety: thread-safe (EtcdClient is).
#ifndef LATENTSEARCH_COMMON_CLUSTER_PLACEMENT_STORE_H_
#define LATENTSEARCH_COMMON_CLUSTER_PLACEMENT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/cluster/etcd_client.h"
#include "latentsearch/v1/cluster.pb.h"

namespace latentsearch::cluster {

inline constexpr char kCollectionsPrefix[] = "/latentsearch/collections/";
inline constexpr char kNodesPrefix[] = "/latentsearch/nodes/";

// A placement with the etcd revision it was read at (for CompareAndSwap).
struct StoredPlacement {
  v1::CollectionPlacement placement;
  int64_t mod_revision = 0;
};

class PlacementStore {
 public:
  // `etcd` is shared with whoever else uses it.
  explicit PlacementStore(std::shared_ptr<EtcdClient> etcd) : etcd_(std::move(etcd)) {}

  // Every collection, by name. A record that does not parse is skipped and
  // logged at WARNING (it is never overwritten from here).
  absl::StatusOr<std::vector<StoredPlacement>> ReadPlacements();
  // One collection; NOT_FOUND naming it when absent.
  absl::StatusOr<StoredPlacement> ReadPlacement(const std::string& name);
  // Registered nodes, by address.
  absl::StatusOr<std::vector<v1::NodeRecord>> ReadNodes();

  // Records the node unless it is already (its first record is kept).
  absl::Status RegisterNode(const v1::NodeRecord& node);
  // Creates the collection's record; false (and *existing) when the name is
  // taken.
  absl::StatusOr<bool> Create(const v1::CollectionPlacement& placement, StoredPlacement* existing);
  // Replaces the record if it is still at `mod_revision`; false otherwise.
  absl::StatusOr<bool> Update(const v1::CollectionPlacement& placement, int64_t mod_revision);
  // Deletes the record if it is still at `mod_revision`; false otherwise.
  absl::StatusOr<bool> Remove(const std::string& name, int64_t mod_revision);

  const std::vector<std::string>& endpoints() const { return etcd_->endpoints(); }

 private:
  const std::shared_ptr<EtcdClient> etcd_;
};

// JSON (protobuf mapping) of a placement, and back (INTERNAL naming the key
// for a record that does not parse).
std::string PlacementToJson(const v1::CollectionPlacement& placement);
absl::StatusOr<v1::CollectionPlacement> PlacementFromJson(const std::string& json,
                                                          const std::string& key);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_PLACEMENT_STORE_H_

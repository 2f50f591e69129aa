// What the router's tests share: a small cluster of FakeNodes (fake_node.h)
// registered in a placement store (in memory, or etcd through
// EtcdRouterStore when the test starts one), routers over it without their
// refresh thread (tests call Refresh()), and blocking wrappers of
// RouterCore's asynchronous calls.
// Thread-safety: MemoryStore is thread-safe; the rest is used by the test's
// thread.
#ifndef LATENTSEARCH_TESTS_UNIT_SEARCH_CLUSTER_ROUTER_TEST_CLUSTER_H_
#define LATENTSEARCH_TESTS_UNIT_SEARCH_CLUSTER_ROUTER_TEST_CLUSTER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "services/search/cluster/router_core.h"
#include "services/search/cluster/router_placement_store.h"
#include "tests/unit/search/cluster/fake_node.h"

namespace latentsearch::search::cluster::testing {

// A RouterPlacementStore in memory, with etcd's revision semantics.
class MemoryStore final : public RouterPlacementStore {
 public:
  absl::StatusOr<std::vector<StoredPlacement>> ReadPlacements() override;
  absl::StatusOr<std::optional<StoredPlacement>> ReadPlacement(const std::string& name) override;
  absl::StatusOr<std::vector<v1::NodeRecord>> ReadNodes() override;
  absl::StatusOr<bool> CreatePlacement(const v1::CollectionPlacement& placement) override;
  absl::StatusOr<bool> SwapPlacement(const v1::CollectionPlacement& placement,
                                     int64_t revision) override;
  absl::StatusOr<bool> DeletePlacement(const std::string& name, int64_t revision) override;
  std::string Describe() const override { return "the test's memory store"; }

  void AddNode(const std::string& address);
  // Every call answers UNAVAILABLE while down.
  void SetDown(bool down);

 private:
  absl::Status Check() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  mutable absl::Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, StoredPlacement> placements_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::NodeRecord> nodes_ ABSL_GUARDED_BY(mu_);
};

class TestCluster {
 public:
  // Registers a node in the store (etcd: a Put under /latentsearch/nodes/).
  using Register = std::function<absl::Status(const std::string& address)>;

  // `nodes` fake nodes that read their replicas from `store`, registered
  // with `register_node` (default: `store` is a MemoryStore).
  static absl::StatusOr<std::unique_ptr<TestCluster>> Start(
      int nodes, std::shared_ptr<RouterPlacementStore> store, Register register_node = nullptr,
      FakeNode::Options node_options = {});

  // One more node, registered.
  absl::StatusOr<FakeNode*> AddNode(FakeNode::Options node_options = {});

  // Options for a router over this cluster: no refresh thread, 100 ms
  // refresh interval, 20 ms hedge delay, 5 s write timeout.
  RouterCoreOptions RouterOptions() const;
  absl::StatusOr<std::unique_ptr<RouterCore>> Router() const;

  FakeNode& node(size_t i) { return *nodes_[i]; }
  // The node with that address; nullptr if none.
  FakeNode* NodeAt(const std::string& address);
  size_t size() const { return nodes_.size(); }
  RouterPlacementStore& store() { return *store_; }

 private:
  std::shared_ptr<RouterPlacementStore> store_;
  Register register_;
  std::vector<std::unique_ptr<FakeNode>> nodes_;
};

// Runs an asynchronous RouterCore call and waits for its `done`.
template <typename Response, typename Call>
absl::StatusOr<Response> Await(Call&& call) {
  absl::Notification finished;
  absl::Status status;
  Response response;
  call(&response, [&](const absl::Status& s) {
    status = s;
    finished.Notify();
  });
  finished.WaitForNotification();
  if (!status.ok()) return status;
  return response;
}

// Blocking wrappers.
absl::StatusOr<v1::CollectionInfo> Create(RouterCore& router, const v1::CreateCollectionRequest& r);
absl::Status Drop(RouterCore& router, const std::string& name);
absl::StatusOr<v1::CollectionInfo> Get(RouterCore& router, const std::string& name);
absl::StatusOr<v1::ListCollectionsResponse> List(RouterCore& router);
// One stream of `messages`.
absl::StatusOr<v1::UpsertResponse> Upsert(RouterCore& router,
                                          const std::vector<v1::UpsertRequest>& messages);
absl::StatusOr<v1::DeleteResponse> Delete(RouterCore& router, const v1::DeleteRequest& r);
absl::StatusOr<v1::SearchResponse> Search(RouterCore& router, const v1::SearchRequest& r);
absl::StatusOr<v1::SearchBatchResponse> SearchBatch(RouterCore& router,
                                                    const v1::SearchBatchRequest& r);
absl::StatusOr<v1::ListItemsResponse> ListItems(RouterCore& router, const v1::ListItemsRequest& r);
absl::StatusOr<v1::SnapshotResponse> Snapshot(RouterCore& router, const std::string& collection);
absl::StatusOr<v1::ClusterStatusResponse> Status(RouterCore& router);
absl::StatusOr<v1::RebalanceResponse> Rebalance(RouterCore& router, const v1::RebalanceRequest& r);

}  // namespace latentsearch::search::cluster::testing

#endif  // LATENTSEARCH_TESTS_UNIT_SEARCH_CLUSTER_ROUTER_TEST_CLUSTER_H_

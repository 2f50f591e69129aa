// MemoryStore, TestCluster and the blocking wrappers (router_test_cluster.h).
// Thread-safety: MemoryStore under its mutex.
#include "tests/unit/search/cluster/router_test_cluster.h"

#include "absl/time/time.h"
#include "services/search/cluster/router_grpc_node_client.h"

namespace latentsearch::search::cluster::testing {

absl::Status MemoryStore::Check() const {
  if (down_) return absl::UnavailableError("the test's memory store is down");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<StoredPlacement>> MemoryStore::ReadPlacements() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Check(); !s.ok()) return s;
  std::vector<StoredPlacement> out;
  for (const auto& [name, p] : placements_) out.push_back(p);
  return out;
}

absl::StatusOr<std::optional<StoredPlacement>> MemoryStore::ReadPlacement(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Check(); !s.ok()) return s;
  auto it = placements_.find(name);
  if (it == placements_.end()) return std::optional<StoredPlacement>();
  return std::optional<StoredPlacement>(it->second);
}

absl::StatusOr<std::vector<v1::NodeRecord>> MemoryStore::ReadNodes() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Check(); !s.ok()) return s;
  std::vector<v1::NodeRecord> out;
  for (const auto& [address, n] : nodes_) out.push_back(n);
  return out;
}

absl::StatusOr<bool> MemoryStore::CreatePlacement(const v1::CollectionPlacement& placement) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Check(); !s.ok()) return s;
  if (placements_.count(placement.spec().name()) > 0) return false;
  placements_[placement.spec().name()] = {placement, ++revision_};
  return true;
}

absl::StatusOr<bool> MemoryStore::SwapPlacement(const v1::CollectionPlacement& placement,
                                                int64_t revision) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Check(); !s.ok()) return s;
  auto it = placements_.find(placement.spec().name());
  if (it == placements_.end() || it->second.mod_revision != revision) return false;
  it->second = {placement, ++revision_};
  return true;
}

absl::StatusOr<bool> MemoryStore::DeletePlacement(const std::string& name, int64_t revision) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Check(); !s.ok()) return s;
  auto it = placements_.find(name);
  if (it == placements_.end() || it->second.mod_revision != revision) return false;
  placements_.erase(it);
  ++revision_;
  return true;
}

void MemoryStore::AddNode(const std::string& address) {
  absl::MutexLock lock(&mu_);
  nodes_[address].set_address(address);
}

void MemoryStore::SetDown(bool down) {
  absl::MutexLock lock(&mu_);
  down_ = down;
}

absl::StatusOr<std::unique_ptr<TestCluster>> TestCluster::Start(
    int nodes, std::shared_ptr<RouterPlacementStore> store, Register register_node,
    FakeNode::Options node_options) {
  auto cluster = std::make_unique<TestCluster>();
  cluster->store_ = std::move(store);
  cluster->register_ = std::move(register_node);
  if (!cluster->register_) {
    auto* memory = dynamic_cast<MemoryStore*>(cluster->store_.get());
    if (memory == nullptr) return absl::InvalidArgumentError("no way to register nodes");
    cluster->register_ = [memory](const std::string& address) {
      memory->AddNode(address);
      return absl::OkStatus();
    };
  }
  for (int i = 0; i < nodes; ++i) {
    absl::StatusOr<FakeNode*> node = cluster->AddNode(node_options);
    if (!node.ok()) return node.status();
  }
  return cluster;
}

absl::StatusOr<FakeNode*> TestCluster::AddNode(FakeNode::Options node_options) {
  if (!node_options.placements) {
    node_options.placements =
        [store = store_]() -> absl::StatusOr<std::vector<v1::CollectionPlacement>> {
      absl::StatusOr<std::vector<StoredPlacement>> stored = store->ReadPlacements();
      if (!stored.ok()) return stored.status();
      std::vector<v1::CollectionPlacement> out;
      for (StoredPlacement& s : *stored) out.push_back(std::move(s.placement));
      return out;
    };
  }
  absl::StatusOr<std::unique_ptr<FakeNode>> node = FakeNode::Start(std::move(node_options));
  if (!node.ok()) return node.status();
  if (absl::Status s = register_((*node)->address()); !s.ok()) return s;
  nodes_.push_back(*std::move(node));
  return nodes_.back().get();
}

FakeNode* TestCluster::NodeAt(const std::string& address) {
  for (auto& n : nodes_) {
    if (n->address() == address) return n.get();
  }
  return nullptr;
}

RouterCoreOptions TestCluster::RouterOptions() const {
  RouterCoreOptions options;
  options.store = store_;
  options.dial = GrpcNodeClient::Dialer();
  options.refresh_interval = absl::Milliseconds(100);
  options.hedge_delay = absl::Milliseconds(20);
  options.write_timeout = absl::Seconds(5);
  options.refresh_thread = false;
  options.name = "test-router";
  options.worker_threads = 2;
  return options;
}

absl::StatusOr<std::unique_ptr<RouterCore>> TestCluster::Router() const {
  return RouterCore::Create(RouterOptions());
}

absl::StatusOr<v1::CollectionInfo> Create(RouterCore& router,
                                          const v1::CreateCollectionRequest& r) {
  return Await<v1::CollectionInfo>([&](v1::CollectionInfo* out, RouterCore::Done done) {
    router.CreateCollection(r, absl::InfiniteFuture(), out, std::move(done));
  });
}

absl::Status Drop(RouterCore& router, const std::string& name) {
  v1::DropCollectionRequest r;
  r.set_name(name);
  return Await<v1::DropCollectionResponse>(
             [&](v1::DropCollectionResponse* out, RouterCore::Done done) {
               router.DropCollection(r, absl::InfiniteFuture(), out, std::move(done));
             })
      .status();
}

absl::StatusOr<v1::CollectionInfo> Get(RouterCore& router, const std::string& name) {
  v1::GetCollectionRequest r;
  r.set_name(name);
  return Await<v1::CollectionInfo>([&](v1::CollectionInfo* out, RouterCore::Done done) {
    router.GetCollection(r, absl::InfiniteFuture(), out, std::move(done));
  });
}

absl::StatusOr<v1::ListCollectionsResponse> List(RouterCore& router) {
  return Await<v1::ListCollectionsResponse>(
      [&](v1::ListCollectionsResponse* out, RouterCore::Done done) {
        router.ListCollections({}, absl::InfiniteFuture(), out, std::move(done));
      });
}

absl::StatusOr<v1::UpsertResponse> Upsert(RouterCore& router,
                                          const std::vector<v1::UpsertRequest>& messages) {
  std::unique_ptr<RouterUpsertStream> stream = router.NewUpsertStream();
  for (const v1::UpsertRequest& m : messages) {
    absl::Status s = Await<bool>([&](bool*, RouterCore::Done done) {
                       stream->Add(m, std::move(done));
                     }).status();
    if (!s.ok()) return s;
  }
  return stream->Finish();
}

absl::StatusOr<v1::DeleteResponse> Delete(RouterCore& router, const v1::DeleteRequest& r) {
  return Await<v1::DeleteResponse>([&](v1::DeleteResponse* out, RouterCore::Done done) {
    router.Delete(r, absl::InfiniteFuture(), out, std::move(done));
  });
}

absl::StatusOr<v1::SearchResponse> Search(RouterCore& router, const v1::SearchRequest& r) {
  return Await<v1::SearchResponse>([&](v1::SearchResponse* out, RouterCore::Done done) {
    router.Search(r, absl::InfiniteFuture(), nullptr, out, std::move(done));
  });
}

absl::StatusOr<v1::SearchBatchResponse> SearchBatch(RouterCore& router,
                                                    const v1::SearchBatchRequest& r) {
  return Await<v1::SearchBatchResponse>([&](v1::SearchBatchResponse* out, RouterCore::Done done) {
    router.SearchBatch(r, absl::InfiniteFuture(), nullptr, out, std::move(done));
  });
}

absl::StatusOr<v1::ListItemsResponse> ListItems(RouterCore& router, const v1::ListItemsRequest& r) {
  return Await<v1::ListItemsResponse>([&](v1::ListItemsResponse* out, RouterCore::Done done) {
    router.ListItems(r, absl::InfiniteFuture(), out, std::move(done));
  });
}

absl::StatusOr<v1::SnapshotResponse> Snapshot(RouterCore& router, const std::string& collection) {
  v1::SnapshotRequest r;
  r.set_collection(collection);
  return Await<v1::SnapshotResponse>([&](v1::SnapshotResponse* out, RouterCore::Done done) {
    router.Snapshot(r, absl::InfiniteFuture(), out, std::move(done));
  });
}

absl::StatusOr<v1::ClusterStatusResponse> Status(RouterCore& router) {
  return Await<v1::ClusterStatusResponse>(
      [&](v1::ClusterStatusResponse* out, RouterCore::Done done) {
        router.Status({}, out, std::move(done));
      });
}

absl::StatusOr<v1::RebalanceResponse> Rebalance(RouterCore& router, const v1::RebalanceRequest& r) {
  return Await<v1::RebalanceResponse>([&](v1::RebalanceResponse* out, RouterCore::Done done) {
    router.Rebalance(r, out, std::move(done));
  });
}

}  // namespace latentsearch::search::cluster::testing

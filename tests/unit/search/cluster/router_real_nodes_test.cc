// RouterCore over real search nodes in one process: three NodeCores behind
// their SearchNode gRPC service (node_core.h, node_service.h) on loopback,
// their placement read from the test's in-memory store through NodeAgent
// refreshes the test runs by hand, on a clock the test moves (catch-up is
// due two refresh intervals after a replica starts). Checks that what the
// router sends is what the nodes understand: a created collection's
// replicas catch up and serve, writes land on every replica, exact
// searches (three metrics), item queries and ListItems paging equal a
// standalone SearchCore's, deletes and totals, a Resync through the router.
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/rpc/server.h"
#include "common/testing/etcd_process.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/search/cluster/node_agent.h"
#include "services/search/cluster/node_client_peers.h"
#include "services/search/cluster/node_core.h"
#include "services/search/cluster/node_service.h"
#include "services/search/cluster/router_core.h"
#include "services/search/cluster/router_grpc_node_client.h"
#include "services/search/search_core.h"
#include "tests/unit/search/cluster/router_test_cluster.h"

namespace latentsearch::search::cluster::testing {
namespace {

using ::latentsearch::testing::PickUnusedLoopbackPort;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 6;
constexpr absl::Duration kInterval = absl::Milliseconds(100);

// The nodes' view of the test's store.
class StoreSource final : public PlacementSource {
 public:
  explicit StoreSource(std::shared_ptr<MemoryStore> store) : store_(std::move(store)) {}
  absl::Status RegisterNode(const v1::NodeRecord& node) override {
    store_->AddNode(node.address());
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<v1::CollectionPlacement>> ReadPlacements() override {
    absl::StatusOr<std::vector<StoredPlacement>> stored = store_->ReadPlacements();
    if (!stored.ok()) return stored.status();
    std::vector<v1::CollectionPlacement> out;
    for (StoredPlacement& s : *stored) out.push_back(std::move(s.placement));
    return out;
  }

 private:
  std::shared_ptr<MemoryStore> store_;
};

struct RealNode {
  std::unique_ptr<NodeCore> core;
  std::unique_ptr<NodeService> service;
  std::unique_ptr<rpc::Server> server;
  std::unique_ptr<NodeAgent> agent;
};

std::vector<v1::Item> Items(int n) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<v1::Item> items(n);
  for (int i = 0; i < n; ++i) {
    items[i].set_id(absl::StrCat("k", 100 + i));
    items[i].set_label(i % 3);
    for (uint32_t d = 0; d < kDim; ++d) items[i].add_vector(normal(rng));
  }
  return items;
}

v1::UpsertRequest Message(const std::string& collection, const std::vector<v1::Item>& items) {
  v1::UpsertRequest u;
  u.set_collection(collection);
  for (const v1::Item& item : items) *u.add_items() = item;
  return u;
}

class RouterRealNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<MemoryStore>();
    source_ = std::make_unique<StoreSource>(store_);
    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(StartNode(i));
    RouterCoreOptions options;
    options.store = store_;
    options.dial = GrpcNodeClient::Dialer();
    options.refresh_interval = kInterval;
    options.refresh_thread = false;
    options.worker_threads = 2;
    ASSERT_OK_AND_ASSIGN(router_, RouterCore::Create(options));
  }

  void TearDown() override {
    router_.reset();
    for (RealNode& n : nodes_) {
      if (n.server) n.server->Shutdown(absl::ZeroDuration());
    }
  }

  void StartNode(int i) {
    const int port = PickUnusedLoopbackPort();
    ASSERT_GT(port, 0);
    NodeCoreOptions options;
    options.address = absl::StrCat("127.0.0.1:", port);
    options.collections.data_dir = dirs_.Join(absl::StrCat("node", i));
    options.collections.num_threads = 1;
    options.refresh_interval = kInterval;
    options.clock = [this] { return absl::FromUnixMicros(now_us_.load()); };
    auto peers = std::make_shared<NodeClientPeers>(GrpcNodeClient::Dialer(), absl::Seconds(5));
    RealNode node;
    ASSERT_OK_AND_ASSIGN(node.core, NodeCore::Create(options, peers));
    node.service = std::make_unique<NodeService>(node.core.get());
    rpc::ServerOptions so;
    so.listen = options.address;
    ASSERT_OK_AND_ASSIGN(node.server, rpc::Server::Start(so, {node.service.get()}));
    node.agent = std::make_unique<NodeAgent>(node.core.get(), source_.get(), kInterval);
    ASSERT_OK(node.agent->RefreshOnce());
    nodes_.push_back(std::move(node));
  }

  // Every node reads the placement now.
  void RefreshNodes() {
    for (RealNode& n : nodes_) ASSERT_OK(n.agent->RefreshOnce());
  }

  // Creates the collection while the nodes keep reading the placement and
  // their clock moves on, so their new replicas catch up (the router waits
  // until every replica serves).
  void CreateServing(const v1::CreateCollectionRequest& spec) {
    std::atomic<bool> done{false};
    absl::StatusOr<v1::CollectionInfo> created;
    std::thread create([&] {
      created = Create(*router_, spec);
      done = true;
    });
    while (!done) {
      RefreshNodes();
      CatchUp();
    }
    create.join();
    ASSERT_OK(created);
    ASSERT_OK(router_->Refresh());
  }

  // One refresh interval later on the nodes' clock; due catch-ups run.
  void CatchUp() {
    now_us_ += absl::ToInt64Microseconds(kInterval);
    for (RealNode& n : nodes_) n.core->CatchUpDue();
  }

  std::unique_ptr<SearchCore> Standalone(const std::vector<v1::Item>& items) {
    SearchCoreOptions options;
    options.collections.data_dir = dirs_.Join("standalone");
    options.collections.num_threads = 1;
    auto core = SearchCore::Create(options);
    EXPECT_OK(core);
    v1::CreateCollectionRequest spec;
    spec.set_name("c");
    spec.set_dim(kDim);
    EXPECT_OK((*core)->CreateCollection(spec));
    auto stream = (*core)->NewUpsertStream();
    EXPECT_OK(stream->Add(Message("c", items)));
    EXPECT_OK(stream->Finish());
    return *std::move(core);
  }

  static v1::SearchResponse StandaloneSearch(SearchCore& core, const v1::SearchRequest& q) {
    v1::SearchResponse out;
    absl::Status status;
    core.Search(q, absl::InfiniteFuture(), nullptr, &out,
                [&](const absl::Status& s) { status = s; });
    EXPECT_OK(status);
    return out;
  }

  static void ExpectSame(const v1::SearchResponse& got, const v1::SearchResponse& want) {
    ASSERT_EQ(got.neighbors_size(), want.neighbors_size());
    for (int i = 0; i < got.neighbors_size(); ++i) {
      EXPECT_EQ(got.neighbors(i).id(), want.neighbors(i).id()) << "rank " << i;
      EXPECT_FLOAT_EQ(got.neighbors(i).distance(), want.neighbors(i).distance()) << "rank " << i;
    }
  }

  TempDir dirs_;
  std::atomic<int64_t> now_us_{1'000'000'000'000'000};
  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<StoreSource> source_;
  std::vector<RealNode> nodes_;
  std::unique_ptr<RouterCore> router_;
};

TEST_F(RouterRealNodesTest, ClusteredCollectionAnswersLikeOneNode) {
  v1::CreateCollectionRequest spec;
  spec.set_name("c");
  spec.set_dim(kDim);
  spec.set_shards(3);
  spec.set_replication_factor(2);
  ASSERT_NO_FATAL_FAILURE(CreateServing(spec));
  const std::vector<v1::Item> items = Items(150);
  ASSERT_OK_AND_ASSIGN(v1::UpsertResponse upserted, Upsert(*router_, {Message("c", items)}));
  EXPECT_EQ(upserted.inserted(), 150u);
  EXPECT_EQ(upserted.item_count(), 150u);
  std::unique_ptr<SearchCore> standalone = Standalone(items);
  for (v1::Metric metric : {v1::METRIC_L2, v1::METRIC_L1, v1::METRIC_COSINE}) {
    for (int i : {0, 42, 149}) {
      v1::SearchRequest q;
      q.set_collection("c");
      q.set_metric(metric);
      q.set_k(7);
      *q.mutable_vector()->mutable_values() = items[i].vector();
      q.mutable_vector()->set_values(1, -1.5f);
      ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, q));
      ExpectSame(got, StandaloneSearch(*standalone, q));
      q.clear_vector();
      q.set_item_id(items[i].id());
      q.set_exclude_self(true);
      ASSERT_OK_AND_ASSIGN(got, Search(*router_, q));
      ExpectSame(got, StandaloneSearch(*standalone, q));
    }
  }
  v1::ListItemsRequest list;
  list.set_collection("c");
  list.set_page_size(40);
  while (true) {
    ASSERT_OK_AND_ASSIGN(v1::ListItemsResponse got, ListItems(*router_, list));
    ASSERT_OK_AND_ASSIGN(v1::ListItemsResponse want, standalone->ListItems(list));
    ASSERT_EQ(got.items_size(), want.items_size());
    for (int i = 0; i < got.items_size(); ++i) EXPECT_EQ(got.items(i).id(), want.items(i).id());
    ASSERT_EQ(got.next_page_token(), want.next_page_token());
    if (got.next_page_token().empty()) break;
    list.set_page_token(got.next_page_token());
  }
  v1::DeleteRequest del;
  del.set_collection("c");
  del.add_ids(items[0].id());
  del.add_ids("absent");
  ASSERT_OK_AND_ASSIGN(v1::DeleteResponse deleted, Delete(*router_, del));
  EXPECT_EQ(deleted.deleted(), 1u);
  EXPECT_EQ(deleted.not_found(), 1u);
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo info, Get(*router_, "c"));
  EXPECT_EQ(info.item_count(), 149u);
  ASSERT_OK_AND_ASSIGN(v1::SnapshotResponse snapshots, Snapshot(*router_, "c"));
  EXPECT_EQ(snapshots.snapshots_size(), 6);
}

TEST_F(RouterRealNodesTest, AReplicaToldToResyncIsNotReadUntilItCaughtUp) {
  v1::CreateCollectionRequest spec;
  spec.set_name("c");
  spec.set_dim(kDim);
  spec.set_replication_factor(3);
  ASSERT_NO_FATAL_FAILURE(CreateServing(spec));
  ASSERT_OK(Upsert(*router_, {Message("c", Items(5))}));
  // As after a write it missed: the node is told to resync and refuses
  // reads; the router reads the other two meanwhile.
  const std::string node = nodes_[0].core->address();
  router_->view().ReportFailedWrite("c", 0, node, "test");
  // The Resync travels on its own; wait until the node took it.
  auto catching_up = [&] {
    const v1::GetNodeStatusResponse status = nodes_[0].core->Status();
    for (const v1::NodeReplica& r : status.replicas()) {
      if (r.state() == v1::REPLICA_STATE_CATCHING_UP) return true;
    }
    return false;
  };
  for (int i = 0; i < 1000000 && !catching_up(); ++i) std::this_thread::yield();
  ASSERT_TRUE(catching_up());
  ASSERT_OK(router_->Refresh());
  v1::SearchRequest q;
  q.set_collection("c");
  q.set_item_id("k100");
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, q));
    EXPECT_EQ(got.neighbors_size(), 5);
  }
  EXPECT_TRUE(router_->view().IsSuspect("c", 0, node));
  // Caught up: read again once a refresh after the Resync's answer sees it
  // serving (that answer reaches the router on its own too).
  for (int i = 0; i < 1000 && router_->view().IsSuspect("c", 0, node); ++i) {
    CatchUp();
    ASSERT_OK(router_->Refresh());
  }
  EXPECT_FALSE(router_->view().IsSuspect("c", 0, node));
}

}  // namespace
}  // namespace latentsearch::search::cluster::testing

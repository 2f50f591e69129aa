// ClusterView without gRPC: node clients that answer from the test's
// tables. The read order (serving ACTIVE/LEAVING replicas first and
// rotated, then the ones not seen serving, nodes that did not answer last,
// JOINING never), the suspect set (Resync sent, repeated until accepted,
// cleared by a later poll that sees the replica serving), and a placement
// store that fails (the last placement is kept, nodes are still polled).
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/search/cluster/cluster_view.h"
#include "tests/unit/search/cluster/router_test_cluster.h"

namespace latentsearch::search::cluster::testing {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Answers GetNodeStatus from `replicas` (or `down`) and counts Resyncs,
// accepting them unless `refuse_resync`; everything inline.
class TableNode final : public NodeClient {
 public:
  explicit TableNode(std::string address) : address_(std::move(address)) {}
  const std::string& address() const override { return address_; }

  void GetNodeStatus(Ptr<v1::GetNodeStatusRequest>, absl::Time, Cancellation*,
                     Done<v1::GetNodeStatusResponse> done) override {
    absl::MutexLock lock(&mu);
    if (down) return done(absl::UnavailableError("node " + address_ + " is down"));
    v1::GetNodeStatusResponse out;
    out.set_address(address_);
    for (const auto& [key, state] : replicas) {
      v1::NodeReplica* r = out.add_replicas();
      r->mutable_ref()->set_collection(key.first);
      r->mutable_ref()->set_shard(key.second);
      r->set_state(state);
    }
    done(std::move(out));
  }
  void Resync(Ptr<v1::ResyncRequest> request, absl::Time, Cancellation*,
              Done<v1::ResyncResponse> done) override {
    absl::MutexLock lock(&mu);
    ++resyncs;
    if (refuse_resync) return done(absl::UnavailableError("refused"));
    replicas[{request->ref().collection(), request->ref().shard()}] = v1::REPLICA_STATE_CATCHING_UP;
    done(v1::ResyncResponse());
  }
  void Write(Ptr<v1::ShardWriteRequest>, absl::Time, Cancellation*,
             Done<v1::ShardWriteResponse> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void SearchShard(Ptr<v1::ShardSearchRequest>, absl::Time, Cancellation*,
                   Done<v1::SearchBatchResponse> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void GetItems(Ptr<v1::GetItemsRequest>, absl::Time, Cancellation*,
                Done<v1::GetItemsResponse> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void ScanShard(Ptr<v1::ScanShardRequest>, absl::Time, Cancellation*,
                 Done<v1::ScanShardResponse> done) override {
    done(absl::UnimplementedError("not in this test"));
  }
  void SnapshotShards(Ptr<v1::SnapshotRequest>, absl::Time, Cancellation*,
                      Done<v1::SnapshotResponse> done) override {
    done(absl::UnimplementedError("not in this test"));
  }

  absl::Mutex mu;
  bool down ABSL_GUARDED_BY(mu) = false;
  bool refuse_resync ABSL_GUARDED_BY(mu) = false;
  int resyncs ABSL_GUARDED_BY(mu) = 0;
  std::map<ShardKey, v1::ReplicaState> replicas ABSL_GUARDED_BY(mu);

 private:
  const std::string address_;
};

class ClusterViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<MemoryStore>();
    for (const char* name : {"a", "b", "c", "d", "e"}) {
      nodes_[name] = std::make_shared<TableNode>(name);
      store_->AddNode(name);
    }
    ClusterViewOptions options;
    options.store = store_;
    options.dial =
        [this](const std::string& address) -> absl::StatusOr<std::shared_ptr<NodeClient>> {
      auto it = nodes_.find(address);
      if (it == nodes_.end()) return absl::NotFoundError("no node " + address);
      return std::shared_ptr<NodeClient>(it->second);
    };
    ASSERT_OK_AND_ASSIGN(view_, ClusterView::Create(options));
  }

  // Collection "c", one shard: a ACTIVE, b LEAVING, c JOINING, d ACTIVE
  // (node down), e ACTIVE (catching up); all but d seen serving unless said.
  void PlaceOneShard() {
    v1::CollectionPlacement p;
    p.mutable_spec()->set_name("c");
    p.mutable_spec()->set_shards(1);
    v1::ShardPlacement* s = p.add_shards();
    for (auto [node, role] :
         std::vector<std::pair<const char*, v1::ReplicaRole>>{{"a", v1::REPLICA_ROLE_ACTIVE},
                                                              {"b", v1::REPLICA_ROLE_LEAVING},
                                                              {"c", v1::REPLICA_ROLE_JOINING},
                                                              {"d", v1::REPLICA_ROLE_ACTIVE},
                                                              {"e", v1::REPLICA_ROLE_ACTIVE}}) {
      v1::ReplicaPlacement* r = s->add_replicas();
      r->set_node(node);
      r->set_role(role);
      absl::MutexLock lock(&nodes_[node]->mu);
      nodes_[node]->replicas[{"c", 0}] =
          std::string(node) == "e" ? v1::REPLICA_STATE_CATCHING_UP : v1::REPLICA_STATE_SERVING;
    }
    ASSERT_OK(store_->CreatePlacement(p));
    absl::MutexLock lock(&nodes_["d"]->mu);
    nodes_["d"]->down = true;
  }

  std::vector<std::string> Order() {
    std::shared_ptr<const ViewState> state = view_->Current();
    return view_->ReadOrder(*state, state->Find("c")->placement, 0);
  }

  std::shared_ptr<MemoryStore> store_;
  std::map<std::string, std::shared_ptr<TableNode>> nodes_;
  std::unique_ptr<ClusterView> view_;
};

TEST_F(ClusterViewTest, ReadOrderPrefersServingReplicasAndRotatesThem) {
  PlaceOneShard();
  ASSERT_OK(view_->Refresh());
  std::set<std::string> firsts;
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> order = Order();
    ASSERT_EQ(order.size(), 4u);
    EXPECT_THAT(std::vector<std::string>(order.begin(), order.begin() + 2),
                UnorderedElementsAre("a", "b"));
    EXPECT_EQ(order[2], "e");  // Up, not seen serving: tried before the down node.
    EXPECT_EQ(order[3], "d");
    firsts.insert(order[0]);
  }
  EXPECT_EQ(firsts.size(), 2u);
  std::shared_ptr<const ViewState> state = view_->Current();
  EXPECT_TRUE(state->NodeUp("a"));
  EXPECT_FALSE(state->NodeUp("d"));
  EXPECT_THAT(state->nodes.at("d").error,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("down")));
}

TEST_F(ClusterViewTest, SuspectReplicaIsNotReadUntilAPollAfterItsResyncSeesItServing) {
  PlaceOneShard();
  ASSERT_OK(view_->Refresh());
  {
    absl::MutexLock lock(&nodes_["a"]->mu);
    nodes_["a"]->refuse_resync = true;
  }
  view_->ReportFailedWrite("c", 0, "a", "test");
  EXPECT_TRUE(view_->IsSuspect("c", 0, "a"));
  EXPECT_THAT(Order(), ElementsAre("b", "e", "d"));
  // Not accepted: sent again at every refresh, and still suspect although
  // the node reports the replica serving.
  ASSERT_OK(view_->Refresh());
  ASSERT_OK(view_->Refresh());
  EXPECT_TRUE(view_->IsSuspect("c", 0, "a"));
  {
    absl::MutexLock lock(&nodes_["a"]->mu);
    EXPECT_EQ(nodes_["a"]->resyncs, 3);
    nodes_["a"]->refuse_resync = false;
  }
  ASSERT_OK(view_->Refresh());  // The Resync is accepted: catching up.
  EXPECT_TRUE(view_->IsSuspect("c", 0, "a"));
  {
    absl::MutexLock lock(&nodes_["a"]->mu);
    nodes_["a"]->replicas[{"c", 0}] = v1::REPLICA_STATE_SERVING;  // Caught up.
  }
  ASSERT_OK(view_->Refresh());
  EXPECT_FALSE(view_->IsSuspect("c", 0, "a"));
  EXPECT_EQ(Order().size(), 4u);
}

TEST_F(ClusterViewTest, SuspectReplicaTheNodeNoLongerHoldsIsForgotten) {
  PlaceOneShard();
  ASSERT_OK(view_->Refresh());
  view_->ReportFailedWrite("c", 0, "a", "test");
  ASSERT_TRUE(view_->IsSuspect("c", 0, "a"));
  // The replica moved away from node a: nothing left to resync there.
  ASSERT_OK_AND_ASSIGN(std::optional<StoredPlacement> stored, store_->ReadPlacement("c"));
  v1::CollectionPlacement moved = stored->placement;
  moved.mutable_shards(0)->mutable_replicas()->erase(moved.shards(0).replicas().begin());
  ASSERT_OK(store_->SwapPlacement(moved, stored->mod_revision));
  ASSERT_OK(view_->Refresh());
  EXPECT_FALSE(view_->IsSuspect("c", 0, "a"));
}

TEST_F(ClusterViewTest, StoreThatFailsKeepsTheLastPlacementAndNodesArePolled) {
  PlaceOneShard();
  ASSERT_OK(view_->Refresh());
  store_->SetDown(true);
  {
    absl::MutexLock lock(&nodes_["a"]->mu);
    nodes_["a"]->down = true;
  }
  EXPECT_THAT(view_->Refresh(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("memory store is down")));
  std::shared_ptr<const ViewState> state = view_->Current();
  ASSERT_NE(state->Find("c"), nullptr);
  EXPECT_FALSE(state->NodeUp("a"));
  EXPECT_EQ(state->nodes.size(), 5u);
  EXPECT_TRUE(state->nodes.at("b").registered);
}

TEST_F(ClusterViewTest, NodesNamedOnlyByAPlacementArePolledToo) {
  nodes_["x"] = std::make_shared<TableNode>("x");
  v1::CollectionPlacement p;
  p.mutable_spec()->set_name("c");
  v1::ReplicaPlacement* r = p.add_shards()->add_replicas();
  r->set_node("x");
  r->set_role(v1::REPLICA_ROLE_ACTIVE);
  ASSERT_OK(store_->CreatePlacement(p));
  ASSERT_OK(view_->Refresh());
  std::shared_ptr<const ViewState> state = view_->Current();
  ASSERT_EQ(state->nodes.count("x"), 1u);
  EXPECT_TRUE(state->nodes.at("x").up);
  EXPECT_FALSE(state->nodes.at("x").registered);
  EXPECT_EQ(state->Replica("x", "c", 0), nullptr);  // It does not hold it.
}

}  // namespace
}  // namespace latentsearch::search::cluster::testing

// NodeMetrics (services/search/cluster/node_metrics.h): the gauges' samples
// from a GetNodeStatus answer, and real NodeCores in one process (peers
// scan each other directly, on a clock the test moves) counting catch-ups
// by reason with their durations, anti-entropy merges, and the gauges read
// at render time until Unwatch.
#include "services/search/cluster/node_metrics.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::TempDir;

constexpr uint32_t kDim = 4;

// The value of `series` (name{labels} as rendered) on `page`; -1 if absent.
double Value(const std::string& page, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double v = 0;
    return absl::SimpleAtod(line, &v) ? v : -1;
  }
  return -1;
}

// Routes a peer's call to the NodeCore registered under its address.
class InProcessPeers final : public PeerScanner {
 public:
  absl::StatusOr<v1::ScanShardResponse> Scan(const std::string& node,
                                             const v1::ScanShardRequest& request) override {
    auto it = nodes.find(node);
    if (it == nodes.end()) return absl::UnavailableError(node + " is down");
    return it->second->ScanShard(request);
  }
  absl::StatusOr<v1::GetNodeStatusResponse> Status(const std::string& node) override {
    auto it = nodes.find(node);
    if (it == nodes.end()) return absl::UnavailableError(node + " is down");
    return it->second->Status();
  }
  std::map<std::string, NodeCore*> nodes;
};

TEST(NodeMetricsSamplesTest, StatesItemsAndTombstonesPerReplica) {
  v1::GetNodeStatusResponse status;
  v1::NodeReplica* r = status.add_replicas();
  r->mutable_ref()->set_collection("c");
  r->mutable_ref()->set_shard(2);
  r->set_state(v1::REPLICA_STATE_CATCHING_UP);
  r->set_item_count(7);
  r->set_tombstones(3);
  const std::vector<rpc::GaugeSample> states = NodeReplicaStates(status);
  ASSERT_EQ(states.size(), 2u);
  EXPECT_THAT(states[0].label_values, ::testing::ElementsAre("c", "2", "serving"));
  EXPECT_EQ(states[0].value, 0);
  EXPECT_THAT(states[1].label_values, ::testing::ElementsAre("c", "2", "catching_up"));
  EXPECT_EQ(states[1].value, 1);
  ASSERT_EQ(NodeReplicaItems(status).size(), 1u);
  EXPECT_EQ(NodeReplicaItems(status)[0].value, 7);
  EXPECT_EQ(NodeReplicaTombstones(status)[0].value, 3);
  EXPECT_THAT(NodeReplicaTombstones(status)[0].label_values, ::testing::ElementsAre("c", "2"));
}

class NodeMetricsTest : public ::testing::Test {
 protected:
  // A node with its own registry and metrics (kept across restarts).
  std::unique_ptr<NodeCore> StartNode(const std::string& address) {
    auto& [registry, metrics] = metrics_[address];
    if (registry == nullptr) {
      registry = std::make_unique<rpc::MetricsRegistry>();
      metrics = std::make_unique<NodeMetrics>(registry.get());
    }
    NodeCoreOptions options;
    options.address = address;
    options.collections.data_dir = dirs_.Join(address);
    options.collections.num_threads = 1;
    options.refresh_interval = absl::Seconds(1);
    options.clock = [this] { return now_; };
    metrics->Install(&options);
    absl::StatusOr<std::unique_ptr<NodeCore>> node = NodeCore::Create(options, peers_);
    EXPECT_THAT(node.status(), IsOk());
    peers_->nodes[address] = node->get();
    metrics->Watch(node->get());
    return std::move(*node);
  }

  std::string Page(const std::string& address) { return metrics_[address].first->Render(); }

  // Collection "c", one shard on every node listed.
  static v1::CollectionPlacement Placement(const std::vector<std::string>& nodes) {
    v1::CollectionPlacement p;
    p.mutable_spec()->set_name("c");
    p.mutable_spec()->set_dim(kDim);
    p.mutable_spec()->set_shards(1);
    p.mutable_spec()->set_replication_factor(nodes.size());
    p.set_created_at_us(1000);
    v1::ShardPlacement* shard = p.add_shards();
    for (const std::string& n : nodes) {
      v1::ReplicaPlacement* r = shard->add_replicas();
      r->set_node(n);
      r->set_role(v1::REPLICA_ROLE_ACTIVE);
    }
    return p;
  }

  static v1::ShardWriteRequest Upsert(const std::string& id, uint64_t version) {
    v1::ShardWriteRequest w;
    w.mutable_ref()->set_collection("c");
    v1::VersionedItem* v = w.add_items();
    v->set_version(version);
    v->mutable_item()->set_id(id);
    for (uint32_t i = 0; i < kDim; ++i) v->mutable_item()->add_vector(i);
    return w;
  }

  TempDir dirs_;
  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
  std::shared_ptr<InProcessPeers> peers_ = std::make_shared<InProcessPeers>();
  std::map<std::string,
           std::pair<std::unique_ptr<rpc::MetricsRegistry>, std::unique_ptr<NodeMetrics>>>
      metrics_;
};

constexpr char kStarted[] =
    "latentsearch_node_catch_ups_total{collection=\"c\",shard=\"0\",reason=";
constexpr char kTookCount[] =
    "latentsearch_node_catch_up_seconds_count{collection=\"c\",shard=\"0\"}";
constexpr char kTookSum[] = "latentsearch_node_catch_up_seconds_sum{collection=\"c\",shard=\"0\"}";
constexpr char kServing[] =
    "latentsearch_node_replica_state{collection=\"c\",shard=\"0\",state=\"serving\"}";
constexpr char kCatchingUp[] =
    "latentsearch_node_replica_state{collection=\"c\",shard=\"0\",state=\"catching_up\"}";
constexpr char kItems[] = "latentsearch_node_replica_items{collection=\"c\",shard=\"0\"}";

TEST_F(NodeMetricsTest, CatchUpsAreCountedByReasonWithTheirDuration) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  for (NodeCore* n : {a.get(), b.get()}) n->Reconcile({Placement({"a", "b"})});
  EXPECT_EQ(Value(Page("a"), std::string(kStarted) + "\"new\"}"), 1);
  EXPECT_EQ(Value(Page("a"), kCatchingUp), 1);
  EXPECT_EQ(Value(Page("a"), kServing), 0);
  now_ += absl::Seconds(2);
  ASSERT_EQ(a->CatchUpDue(), 1);
  ASSERT_EQ(b->CatchUpDue(), 1);
  EXPECT_EQ(Value(Page("a"), kTookCount), 1);
  EXPECT_EQ(Value(Page("a"), kTookSum), 2);
  EXPECT_EQ(Value(Page("a"), kServing), 1);
  EXPECT_EQ(Value(Page("a"), kCatchingUp), 0);

  ASSERT_THAT(b->Write(Upsert("x", 10)).status(), IsOk());
  v1::ResyncRequest resync;
  resync.mutable_ref()->set_collection("c");
  resync.set_reason("missed a write");
  ASSERT_THAT(a->Resync(resync), IsOk());
  now_ += absl::Seconds(1);
  ASSERT_THAT(a->Resync(resync), IsOk());  // restarts the catch-up, not its clock
  now_ += absl::Seconds(2);
  ASSERT_EQ(a->CatchUpDue(), 1);
  std::string page = Page("a");
  EXPECT_EQ(Value(page, std::string(kStarted) + "\"resync\"}"), 2);
  EXPECT_EQ(Value(page, kTookCount), 2);
  EXPECT_EQ(Value(page, kTookSum), 2 + 3);
  EXPECT_EQ(Value(page, kItems), 1);
  EXPECT_NE(page.find("# HELP latentsearch_node_anti_entropy_merges_total "), std::string::npos);

  // A restart opens the replica from disk.
  metrics_["a"].second->Unwatch();
  EXPECT_EQ(Value(Page("a"), kServing), -1);  // nothing to read once unwatched
  peers_->nodes.erase("a");
  a.reset();
  a = StartNode("a");
  a->Reconcile({Placement({"a", "b"})});
  EXPECT_EQ(Value(Page("a"), std::string(kStarted) + "\"start\"}"), 1);
  EXPECT_EQ(Value(Page("a"), kCatchingUp), 1);
}

TEST_F(NodeMetricsTest, AntiEntropyMergesAreCounted) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  for (NodeCore* n : {a.get(), b.get()}) n->Reconcile({Placement({"a", "b"})});
  now_ += absl::Seconds(2);
  for (NodeCore* n : {a.get(), b.get()}) ASSERT_EQ(n->CatchUpDue(), 1);
  // A write that reached only a.
  ASSERT_THAT(a->Write(Upsert("x", 10)).status(), IsOk());
  EXPECT_EQ(a->AntiEntropyDue(), 0);
  EXPECT_EQ(b->AntiEntropyDue(), 0);
  now_ += absl::Seconds(5);
  EXPECT_EQ(b->AntiEntropyDue(), 1);
  const char kMerges[] =
      "latentsearch_node_anti_entropy_merges_total{collection=\"c\",shard=\"0\"}";
  EXPECT_EQ(Value(Page("b"), kMerges), 1);
  EXPECT_EQ(Value(Page("b"), kItems), 1);
  EXPECT_EQ(Value(Page("a"), kMerges), -1);  // no series before the first merge
}

}  // namespace
}  // namespace latentsearch::search::cluster

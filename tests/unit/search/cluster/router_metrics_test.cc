// RouterMetrics (services/search/cluster/router_metrics.h): the families
// fed with fake stats through the installed hooks, the replica-state
// samples of a hand-made ViewState, and a RouterCore over FakeNodes
// (fake_node.h) whose hooks count shard reads and writes, retries, hedges,
// partial answers, refused writes and resyncs, with the replica-state gauge
// read from its view at render time. No sleeps: the fake nodes refuse or
// hold calls, the test refreshes the router by hand.
#include "services/search/cluster/router_metrics.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/search/cluster/router_test_cluster.h"

namespace latentsearch::search::cluster::testing {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using Code = absl::StatusCode;
using Mode = FakeNode::Mode;

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

// Sum of every series of `page` that starts with `prefix`.
double Sum(const std::string& page, const std::string& prefix) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    double v = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (absl::SimpleAtod(parts.back(), &v)) sum += v;
  }
  return sum;
}

std::string Request(const std::string& collection, uint32_t shard, const std::string& rpc,
                    const std::string& outcome) {
  return absl::StrCat("latentsearch_router_shard_request_seconds_count{collection=\"", collection,
                      "\",shard=\"", shard, "\",rpc=\"", rpc, "\",outcome=\"", outcome, "\"}");
}

std::string Retries(uint32_t shard, const std::string& kind) {
  return absl::StrCat("latentsearch_router_shard_retries_total{collection=\"c\",shard=\"", shard,
                      "\",kind=\"", kind, "\"}");
}

std::string State(uint32_t shard, const std::string& node, const std::string& state) {
  return absl::StrCat("latentsearch_router_replica_state{collection=\"c\",shard=\"", shard,
                      "\",node=\"", node, "\",state=\"", state, "\"}");
}

TEST(RouterMetricsHooksTest, FakeStatsLandInTheirFamilies) {
  rpc::MetricsRegistry registry;
  RouterMetrics metrics(&registry);
  RouterCoreOptions options;
  metrics.Install(&options);
  ShardReadStats read;
  read.collection = "c";
  read.shard = 1;
  read.rpc = "SearchShard";
  read.latency = absl::Milliseconds(3);
  read.attempts = 4;  // one hedge, two retries
  read.hedges = 1;
  options.on_shard_read(read);
  read.rpc = "ScanShard";
  read.attempts = 1;
  read.hedges = 0;
  read.code = Code::kUnavailable;
  options.on_shard_read(read);
  options.on_shard_write({"c", 0, absl::Milliseconds(2), Code::kOk});
  options.on_partial_answer("c");
  options.on_write_refused("c");
  options.on_write_refused("c");
  options.on_resync("c", 0, "n1");
  const std::string page = registry.Render();
  EXPECT_EQ(Value(page, Request("c", 1, "search", "ok")), 1);
  EXPECT_EQ(Value(page, absl::StrCat("latentsearch_router_shard_request_seconds_sum{collection="
                                     "\"c\",shard=\"1\",rpc=\"search\",outcome=\"ok\"}")),
            0.003);
  EXPECT_EQ(Value(page, Request("c", 1, "list_items", "error")), 1);
  EXPECT_EQ(Value(page, Request("c", 0, "write", "ok")), 1);
  EXPECT_EQ(Value(page, Retries(1, "retry")), 2);
  EXPECT_EQ(Value(page, Retries(1, "hedge")), 1);
  EXPECT_EQ(Value(page, "latentsearch_router_partial_answers_total{collection=\"c\"}"), 1);
  EXPECT_EQ(Value(page, "latentsearch_router_write_refusals_total{collection=\"c\"}"), 2);
  EXPECT_EQ(
      Value(page, "latentsearch_router_resyncs_total{collection=\"c\",shard=\"0\",node=\"n1\"}"),
      1);
  // Every family is documented; the gauge has no samples until Watch.
  for (const char* family :
       {"latentsearch_router_shard_request_seconds histogram",
        "latentsearch_router_shard_retries_total counter",
        "latentsearch_router_partial_answers_total counter",
        "latentsearch_router_write_refusals_total counter",
        "latentsearch_router_replica_state gauge", "latentsearch_router_resyncs_total counter"}) {
    EXPECT_NE(page.find(absl::StrCat("# TYPE ", family)), std::string::npos) << family;
    const std::string name(absl::string_view(family).substr(0, std::string(family).find(' ')));
    EXPECT_NE(page.find(absl::StrCat("# HELP ", name, " ")), std::string::npos) << family;
  }
  EXPECT_EQ(page.find("latentsearch_router_replica_state{"), std::string::npos);
}

TEST(RouterMetricsHooksTest, RpcLabels) {
  EXPECT_STREQ(ShardReadRpcLabel("SearchShard"), "search");
  EXPECT_STREQ(ShardReadRpcLabel("GetItems"), "get_items");
  EXPECT_STREQ(ShardReadRpcLabel("ScanShard"), "list_items");
  EXPECT_STREQ(ShardReadRpcLabel("Bogus"), "other");
}

TEST(RouterReplicaStatesTest, OneOfFourStatesPerPlacedReplica) {
  ViewState state;
  v1::CollectionPlacement& p = state.collections["c"].placement;
  p.mutable_spec()->set_name("c");
  v1::ShardPlacement* shard = p.add_shards();
  shard->set_shard(0);
  for (const char* node : {"serving", "missing", "down", "catching"}) {
    shard->add_replicas()->set_node(node);
  }
  auto up = [&](const std::string& node, std::optional<v1::ReplicaState> replica) {
    ViewState::Node& n = state.nodes[node];
    n.up = true;
    if (replica) n.replicas[{"c", 0}].set_state(*replica);
  };
  up("serving", v1::REPLICA_STATE_SERVING);
  up("missing", std::nullopt);
  state.nodes["down"].up = false;
  up("catching", v1::REPLICA_STATE_CATCHING_UP);
  std::map<std::string, std::string> seen;  // node -> the state with value 1
  const std::vector<rpc::GaugeSample> samples = RouterReplicaStates(state);
  ASSERT_EQ(samples.size(), 16u);
  for (const rpc::GaugeSample& s : samples) {
    ASSERT_EQ(s.label_values.size(), 4u);
    EXPECT_EQ(s.label_values[0], "c");
    EXPECT_EQ(s.label_values[1], "0");
    if (s.value == 1) {
      EXPECT_EQ(seen.count(s.label_values[2]), 0u) << s.label_values[2];
      seen[s.label_values[2]] = s.label_values[3];
    } else {
      EXPECT_EQ(s.value, 0);
    }
  }
  const std::map<std::string, std::string> want = {{"catching", "catching_up"},
                                                   {"down", "down"},
                                                   {"missing", "missing"},
                                                   {"serving", "serving"}};
  EXPECT_EQ(seen, want);
}

class RouterMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<MemoryStore>();
    ASSERT_OK_AND_ASSIGN(cluster_, TestCluster::Start(2, store_));
  }

  // A router whose hooks count into a fresh registry.
  void StartRouter(absl::Duration hedge_delay) {
    RouterCoreOptions options = cluster_->RouterOptions();
    options.hedge_delay = hedge_delay;
    registry_ = std::make_unique<rpc::MetricsRegistry>();
    metrics_ = std::make_unique<RouterMetrics>(registry_.get());
    metrics_->Install(&options);
    ASSERT_OK_AND_ASSIGN(router_, RouterCore::Create(options));
    metrics_->Watch(&router_->view());
  }

  // Collection "c": 2 shards on both nodes, QUORUM (both must acknowledge).
  void CreateAndFill() {
    v1::CreateCollectionRequest spec;
    spec.set_name("c");
    spec.set_dim(kDim);
    spec.set_shards(2);
    spec.set_replication_factor(2);
    ASSERT_OK(Create(*router_, spec));
    ASSERT_OK(Upsert(*router_, {Items(40)}));
  }

  static v1::UpsertRequest Items(int n) {
    v1::UpsertRequest r;
    r.set_collection("c");
    for (int i = 0; i < n; ++i) {
      v1::Item* item = r.add_items();
      item->set_id(absl::StrCat("item-", i));
      for (uint32_t d = 0; d < kDim; ++d) item->add_vector(static_cast<float>(i + d));
    }
    return r;
  }

  static v1::SearchRequest Query(bool allow_partial = false) {
    v1::SearchRequest q;
    q.set_collection("c");
    for (uint32_t d = 0; d < kDim; ++d) q.mutable_vector()->add_values(1);
    q.set_k(3);
    q.set_allow_partial(allow_partial);
    return q;
  }

  void TearDown() override {
    if (metrics_) metrics_->Unwatch();
  }

  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<rpc::MetricsRegistry> registry_;
  std::unique_ptr<RouterMetrics> metrics_;
  std::unique_ptr<RouterCore> router_;
};

TEST_F(RouterMetricsTest, ReadsWritesAndReplicaStatesAreCounted) {
  StartRouter(absl::ZeroDuration());  // no hedges: a refused read is retried
  CreateAndFill();
  ASSERT_OK(Search(*router_, Query()));
  ASSERT_OK(router_->Refresh());
  std::string page = registry_->Render();
  for (uint32_t shard : {0u, 1u}) {
    EXPECT_EQ(Value(page, Request("c", shard, "write", "ok")), 1) << page;
    EXPECT_EQ(Value(page, Request("c", shard, "search", "ok")), 1) << page;
    for (int n = 0; n < 2; ++n) {
      EXPECT_EQ(Value(page, State(shard, cluster_->node(n).address(), "serving")), 1);
      EXPECT_EQ(Value(page, State(shard, cluster_->node(n).address(), "down")), 0);
    }
  }

  // Reads refused on one node: every read that tries it first is retried.
  cluster_->node(0).SetReads(Mode::kRefuse);
  for (int i = 0; i < 4; ++i) ASSERT_OK(Search(*router_, Query()));
  page = registry_->Render();
  EXPECT_GE(Sum(page,
                "latentsearch_router_shard_retries_total{collection=\"c\",shard=\"0\","
                "kind=\"retry\"}") +
                Sum(page,
                    "latentsearch_router_shard_retries_total{collection=\"c\",shard=\"1\","
                    "kind=\"retry\"}"),
            1);
  // 2 shard writes, then 2 shard reads per search, all answered.
  EXPECT_EQ(Sum(page, "latentsearch_router_shard_request_seconds_count{collection=\"c\""),
            2 + 2 + 4 * 2);

  // No replica answers: refused, or partial when allowed.
  cluster_->node(1).SetReads(Mode::kRefuse);
  EXPECT_THAT(Search(*router_, Query()), StatusIs(Code::kUnavailable, ::testing::_));
  ASSERT_OK_AND_ASSIGN(v1::SearchResponse partial, Search(*router_, Query(true)));
  EXPECT_TRUE(partial.partial());
  page = registry_->Render();
  EXPECT_EQ(Value(page, "latentsearch_router_partial_answers_total{collection=\"c\"}"), 1);
  // Both shards of the partial search, and at least the one that failed
  // the other (its second shard may report after the answer).
  EXPECT_GE(
      Sum(page, Request("c", 0, "search", "error")) + Sum(page, Request("c", 1, "search", "error")),
      3);

  // A replica refuses writes: QUORUM of 2 cannot be met; it is told to resync.
  cluster_->node(0).SetReads(Mode::kServe);
  cluster_->node(1).SetReads(Mode::kServe);
  cluster_->node(1).SetWrites(Mode::kRefuse);
  EXPECT_THAT(Upsert(*router_, {Items(10)}), StatusIs(Code::kUnavailable, ::testing::_));
  page = registry_->Render();
  EXPECT_EQ(Value(page, "latentsearch_router_write_refusals_total{collection=\"c\"}"), 1);
  // The shard that decided the refusal (the other may report after it).
  EXPECT_GE(
      Sum(page, Request("c", 0, "write", "error")) + Sum(page, Request("c", 1, "write", "error")),
      1);
  EXPECT_GE(
      Sum(page, absl::StrCat("latentsearch_router_resyncs_total{collection=\"c\",shard=\"", 0,
                             "\",node=\"", cluster_->node(1).address(), "\"}")) +
          Sum(page, absl::StrCat("latentsearch_router_resyncs_total{collection=\"c\",shard=\"", 1,
                                 "\",node=\"", cluster_->node(1).address(), "\"}")),
      1);

  // A node that does not answer polls is down.
  cluster_->node(1).SetDown(true);
  ASSERT_OK(router_->Refresh());
  page = registry_->Render();
  EXPECT_EQ(Value(page, State(0, cluster_->node(1).address(), "down")), 1);
  EXPECT_EQ(Value(page, State(0, cluster_->node(1).address(), "serving")), 0);
  EXPECT_EQ(Value(page, State(0, cluster_->node(0).address(), "serving")), 1);
  metrics_->Unwatch();
  EXPECT_EQ(registry_->Render().find("latentsearch_router_replica_state{"), std::string::npos);
}

TEST_F(RouterMetricsTest, AReadHedgedBesideAStalledReplicaCountsAHedge) {
  StartRouter(absl::Milliseconds(20));
  CreateAndFill();
  cluster_->node(0).SetReads(Mode::kHold);
  for (int i = 0; i < 2; ++i) ASSERT_OK(Search(*router_, Query()));
  const std::string page = registry_->Render();
  // Each search reads both shards; rotation starts half of them on node 0.
  EXPECT_GE(Sum(page, Retries(0, "hedge")) + Sum(page, Retries(1, "hedge")), 1) << page;
  EXPECT_EQ(Sum(page, Retries(0, "retry")) + Sum(page, Retries(1, "retry")), 0) << page;
  cluster_->node(0).SetReads(Mode::kServe);
}

}  // namespace
}  // namespace latentsearch::search::cluster::testing

// /metrics of a search cluster's real processes (docs/cluster.md,
// "Operations"): etcd, 2 nodes and a router on loopback with
// --metrics_listen=127.0.0.1:0. After creating a collection of 2 shards x 2
// replicas, an upsert and searches through the router, the router's and a
// node's pages parse with the reference parser (python3-prometheus-client,
// tests/integration/metrics/parse_metrics.py) and hold every cluster family
// with sensible values: per-shard search and write latencies counted,
// every replica serving (router and node), the node's items and its
// catch-ups of the new replicas. Then a node is killed and the router's
// gauge shows it down (polled, bounded).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc/channel.h"
#include "common/testing/etcd_process.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/integration/cluster/local_cluster.h"
#include "tests/integration/metrics/scrape.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::LocalCluster;
using ::latentsearch::testing::ParsedMetrics;

constexpr char kMarker[] = "metrics listening on ";
constexpr int kItems = 50;
constexpr int kDim = 8;

ParsedMetrics Scrape(const std::string& address) {
  absl::StatusOr<std::string> page = testing::HttpGet(address, "/metrics");
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return {};
  absl::StatusOr<ParsedMetrics> parsed = testing::ParseWithPrometheusClient(*page);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : ParsedMetrics{};
}

grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& f) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return f(&ctx);
}

std::string Key(const std::string& name, const std::vector<std::string>& sorted_labels) {
  std::string out = name + "{";
  for (size_t i = 0; i < sorted_labels.size(); i += 2) {
    absl::StrAppend(&out, i == 0 ? "" : ",", sorted_labels[i], "=\"", sorted_labels[i + 1], "\"");
  }
  return out + "}";
}

class ClusterMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::EtcdProcess::Available()) GTEST_SKIP() << testing::EtcdProcess::kNotInstalled;
    testing::LocalClusterOptions options;
    options.nodes = 2;
    options.routers = 1;
    options.metrics = true;
    auto cluster = LocalCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    router_ = v1::Search::NewStub(rpc::CreateChannel(cluster_->router(0)));
  }

  void CreateFillAndSearch() {
    v1::CreateCollectionRequest create;
    create.set_name("c");
    create.set_dim(kDim);
    create.set_shards(2);
    create.set_replication_factor(2);
    v1::CollectionInfo info;
    grpc::Status s = Call([&](auto* c) { return router_->CreateCollection(c, create, &info); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    grpc::ClientContext ctx;
    v1::UpsertResponse upserted;
    auto writer = router_->Upsert(&ctx, &upserted);
    v1::UpsertRequest request;
    request.set_collection("c");
    for (int i = 0; i < kItems; ++i) {
      v1::Item* item = request.add_items();
      item->set_id(absl::StrCat("item-", i));
      for (int d = 0; d < kDim; ++d) item->add_vector(static_cast<float>(i * d % 7));
    }
    ASSERT_TRUE(writer->Write(request));
    writer->WritesDone();
    s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    for (int i = 0; i < 3; ++i) {
      v1::SearchRequest q;
      q.set_collection("c");
      for (int d = 0; d < kDim; ++d) q.mutable_vector()->add_values(1);
      q.set_k(5);
      v1::SearchResponse response;
      s = Call([&](auto* c) { return router_->Search(c, q, &response); });
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(response.neighbors_size(), 5);
    }
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<v1::Search::Stub> router_;
};

TEST_F(ClusterMetricsTest, RouterAndNodePagesHoldTheClusterFamilies) {
  ASSERT_NO_FATAL_FAILURE(CreateFillAndSearch());
  ASSERT_TRUE(cluster_->WaitAllServing().ok());
  absl::StatusOr<std::string> router_metrics =
      testing::WaitForLogWord(cluster_->router_log(0), kMarker);
  ASSERT_TRUE(router_metrics.ok()) << router_metrics.status();
  absl::StatusOr<std::string> node_metrics =
      testing::WaitForLogWord(cluster_->node_log(0), kMarker);
  ASSERT_TRUE(node_metrics.ok()) << node_metrics.status();

  const ParsedMetrics router = Scrape(*router_metrics);
  EXPECT_EQ(router.family_types.at("latentsearch_router_shard_request_seconds"), "histogram");
  EXPECT_EQ(router.family_types.at("latentsearch_router_shard_retries"), "counter");
  EXPECT_EQ(router.family_types.at("latentsearch_router_partial_answers"), "counter");
  EXPECT_EQ(router.family_types.at("latentsearch_router_write_refusals"), "counter");
  EXPECT_EQ(router.family_types.at("latentsearch_router_resyncs"), "counter");
  EXPECT_EQ(router.family_types.at("latentsearch_router_replica_state"), "gauge");
  for (const char* shard : {"0", "1"}) {
    const std::vector<std::string> search = {"collection", "c",      "outcome", "ok",
                                             "rpc",        "search", "shard",   shard};
    EXPECT_EQ(router.Value(Key("latentsearch_router_shard_request_seconds_count", search)), 3)
        << shard;
    EXPECT_GT(router.Value(Key("latentsearch_router_shard_request_seconds_sum", search)), 0);
    EXPECT_EQ(
        router.Value(Key("latentsearch_router_shard_request_seconds_count",
                         {"collection", "c", "outcome", "ok", "rpc", "write", "shard", shard})),
        1);
    for (int n = 0; n < 2; ++n) {
      auto state = [&](const char* s) {
        return router.Value(
            Key("latentsearch_router_replica_state",
                {"collection", "c", "node", cluster_->node(n), "shard", shard, "state", s}));
      };
      EXPECT_EQ(state("serving"), 1) << "node " << n << " shard " << shard;
      EXPECT_EQ(state("catching_up") + state("down") + state("missing"), 0);
    }
  }
  EXPECT_EQ(router.Sum("latentsearch_router_write_refusals_total"), 0);
  EXPECT_EQ(router.Sum("latentsearch_router_partial_answers_total"), 0);

  const ParsedMetrics node = Scrape(*node_metrics);
  EXPECT_EQ(node.family_types.at("latentsearch_node_replica_state"), "gauge");
  EXPECT_EQ(node.family_types.at("latentsearch_node_replica_items"), "gauge");
  EXPECT_EQ(node.family_types.at("latentsearch_node_replica_tombstones"), "gauge");
  EXPECT_EQ(node.family_types.at("latentsearch_node_catch_up_seconds"), "histogram");
  EXPECT_EQ(node.family_types.at("latentsearch_node_catch_ups"), "counter");
  EXPECT_EQ(node.family_types.at("latentsearch_node_anti_entropy_merges"), "counter");
  double items = 0;
  for (const char* shard : {"0", "1"}) {
    const std::vector<std::string> replica = {"collection", "c", "shard", shard};
    EXPECT_EQ(node.Value(Key("latentsearch_node_replica_state",
                             {"collection", "c", "shard", shard, "state", "serving"})),
              1);
    items += node.Value(Key("latentsearch_node_replica_items", replica));
    // A new replica with a peer catches up once before it serves.
    EXPECT_EQ(node.Value(Key("latentsearch_node_catch_ups_total",
                             {"collection", "c", "reason", "new", "shard", shard})),
              1);
    EXPECT_EQ(node.Value(Key("latentsearch_node_catch_up_seconds_count", replica)), 1);
    EXPECT_GT(node.Value(Key("latentsearch_node_catch_up_seconds_sum", replica)), 0);
  }
  EXPECT_EQ(items, kItems);  // node 0 holds a replica of both shards

  // Node 1 goes away: the router's next polls see it down.
  cluster_->KillNode(1);
  const std::string down =
      Key("latentsearch_router_replica_state",
          {"collection", "c", "node", cluster_->node(1), "shard", "0", "state", "down"});
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  double seen = 0;
  while ((seen = Scrape(*router_metrics).Value(down)) != 1 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));  // polling a condition, bounded above
  }
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace latentsearch

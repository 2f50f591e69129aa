// Starts the real latentsearch-search (and, when built, the encoder and the
// trainer) with --metrics_listen=127.0.0.1:0, makes RPCs, scrapes /metrics
// twice and checks with python3-prometheus-client's parser (not our code)
// that the page parses and the counters moved by exactly the calls made.
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/integration/metrics/scrape.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::ParsedMetrics;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

constexpr char kMarker[] = "metrics listening on ";

std::string Handled(const std::string& method, const std::string& code,
                    const std::string& type = "unary") {
  return "grpc_server_handled_total{grpc_code=\"" + code + "\",grpc_method=\"" + method +
         "\",grpc_service=\"latentsearch.v1.Search\",grpc_type=\"" + type + "\"}";
}

ParsedMetrics Scrape(const std::string& address) {
  absl::StatusOr<std::string> page = latentsearch::testing::HttpGet(address, "/metrics");
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return {};
  absl::StatusOr<ParsedMetrics> parsed = latentsearch::testing::ParseWithPrometheusClient(*page);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? *parsed : ParsedMetrics{};
}

grpc::Status SearchOnce(v1::Search::Stub* stub, const std::string& collection,
                        std::vector<float> query) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::SearchRequest request;
  request.set_collection(collection);
  for (float v : query) request.mutable_vector()->add_values(v);
  request.set_k(3);
  v1::SearchResponse response;
  return stub->Search(&ctx, request, &response);
}

TEST(MetricsScrapeTest, SearchCountersMoveWithRpcsAndParseWithPrometheusClient) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Subprocess> search,
      Subprocess::StartServer(
          {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
           "--metrics_listen=127.0.0.1:0", "--threads=1", "--data_dir=" + dir.Join("data")},
          dir.Join("search.log")));
  ASSERT_OK_AND_ASSIGN(std::string metrics_address,
                       latentsearch::testing::WaitForLogWord(dir.Join("search.log"), kMarker));

  const ParsedMetrics before = Scrape(metrics_address);
  EXPECT_EQ(before.family_types.at("grpc_server_handled"), "counter");
  EXPECT_EQ(before.family_types.at("grpc_server_started"), "counter");
  EXPECT_EQ(before.family_types.at("grpc_server_handling_seconds"), "histogram");
  EXPECT_EQ(before.family_types.at("latentsearch_search_collection_items"), "gauge");
  EXPECT_EQ(before.family_types.at("latentsearch_search_index_build_seconds"), "gauge");
  EXPECT_EQ(before.Value("latentsearch_search_collections{}"), 0);

  auto stub = v1::Search::NewStub(rpc::CreateChannel(search->address()));
  {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest request;
    request.set_name("m");
    request.set_dim(4);
    request.add_index_kinds(v1::INDEX_KIND_EXACT);
    v1::CollectionInfo info;
    ASSERT_TRUE(stub->CreateCollection(&ctx, request, &info).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::UpsertResponse response;
    auto writer = stub->Upsert(&ctx, &response);
    v1::UpsertRequest request;
    request.set_collection("m");
    for (int i = 0; i < 10; ++i) {
      v1::Item* item = request.add_items();
      item->set_id("item-" + std::to_string(i));
      for (int d = 0; d < 4; ++d) item->add_vector(static_cast<float>(i * 4 + d));
    }
    ASSERT_TRUE(writer->Write(request));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  constexpr int kSearches = 5;
  for (int i = 0; i < kSearches; ++i) {
    ASSERT_TRUE(SearchOnce(stub.get(), "m", {1, 2, 3, static_cast<float>(i)}).ok());
  }
  EXPECT_EQ(SearchOnce(stub.get(), "m", {1, 2}).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(SearchOnce(stub.get(), "absent", {1, 2, 3, 4}).error_code(), grpc::NOT_FOUND);

  const ParsedMetrics after = Scrape(metrics_address);
  auto moved = [&](const std::string& key) { return after.Value(key) - before.Value(key); };
  EXPECT_EQ(moved(Handled("Search", "OK")), kSearches);
  EXPECT_EQ(moved(Handled("Search", "INVALID_ARGUMENT")), 1);
  EXPECT_EQ(moved(Handled("Search", "NOT_FOUND")), 1);
  EXPECT_EQ(moved(Handled("CreateCollection", "OK")), 1);
  EXPECT_EQ(moved(Handled("Upsert", "OK", "client_stream")), 1);
  EXPECT_EQ(moved("grpc_server_started_total{grpc_method=\"Search\",grpc_service=\""
                  "latentsearch.v1.Search\",grpc_type=\"unary\"}"),
            kSearches + 2);
  // The latency histogram counted every successful search, with cumulative buckets.
  const std::string hist_labels =
      "grpc_code=\"OK\",grpc_method=\"Search\",grpc_service=\"latentsearch.v1.Search\","
      "grpc_type=\"unary\"";
  EXPECT_EQ(after.Value("grpc_server_handling_seconds_count{" + hist_labels + "}"), kSearches);
  EXPECT_EQ(after.Value("grpc_server_handling_seconds_bucket{" + hist_labels + ",le=\"+Inf\"}"),
            kSearches);
  EXPECT_GT(after.Value("grpc_server_handling_seconds_sum{" + hist_labels + "}"), 0);
  // Index sizes per collection.
  EXPECT_EQ(after.Value("latentsearch_search_collections{}"), 1);
  EXPECT_EQ(after.Value("latentsearch_search_collection_items{collection=\"m\"}"), 10);
  EXPECT_EQ(after.Value("latentsearch_search_index_items{collection=\"m\",index=\"exact\","
                        "metric=\"l2\"}"),
            10);

  // A third scrape sees the second one's... nothing: scrapes are not RPCs.
  const ParsedMetrics again = Scrape(metrics_address);
  EXPECT_EQ(again.Value(Handled("Search", "OK")), after.Value(Handled("Search", "OK")));
  EXPECT_EQ(search->Stop(SIGTERM), 0);
}

TEST(MetricsScrapeTest, MetricsPortInUseFailsStartup) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Subprocess> first,
      Subprocess::StartServer(
          {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
           "--metrics_listen=127.0.0.1:0", "--threads=1", "--data_dir=" + dir.Join("a")},
          dir.Join("a.log")));
  ASSERT_OK_AND_ASSIGN(std::string taken,
                       latentsearch::testing::WaitForLogWord(dir.Join("a.log"), kMarker));
  absl::StatusOr<std::unique_ptr<Subprocess>> second = Subprocess::StartServer(
      {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0", "--metrics_listen=" + taken,
       "--threads=1", "--data_dir=" + dir.Join("b")},
      dir.Join("b.log"), absl::Seconds(30));
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), ::testing::HasSubstr("cannot serve metrics"));
}

// The encoder and the trainer serve the same page (their own families are
// registered; an RPC moves the shared counters). Skipped when the LibTorch
// binaries are not built (LS_WITH_TORCH=OFF).
class ServiceMetricsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ServiceMetricsTest, ServesParsableFamiliesAndCountsHealthChecks) {
  const std::string binary = BinaryPath(GetParam());
  if (::access(binary.c_str(), X_OK) != 0) GTEST_SKIP() << binary << " is not built";
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Subprocess> service,
      Subprocess::StartServer({binary, "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                               "--data_dir=" + dir.Join("data")},
                              dir.Join("service.log")));
  ASSERT_OK_AND_ASSIGN(std::string metrics_address,
                       latentsearch::testing::WaitForLogWord(dir.Join("service.log"), kMarker));
  const ParsedMetrics before = Scrape(metrics_address);
  auto channel = rpc::CreateChannel(service->address());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rpc::CheckHealth(channel).ok());
  const ParsedMetrics after = Scrape(metrics_address);
  const std::string key =
      "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\",grpc_service=\""
      "grpc.health.v1.Health\",grpc_type=\"unary\"}";
  EXPECT_EQ(after.Value(key) - before.Value(key), 3);
  if (std::string(GetParam()) == "latentsearch-encoder") {
    EXPECT_EQ(after.family_types.at("latentsearch_encoder_queue_seconds"), "histogram");
    EXPECT_EQ(after.family_types.at("latentsearch_encoder_compute_seconds"), "histogram");
    EXPECT_EQ(after.family_types.at("latentsearch_encoder_batch_size"), "histogram");
    EXPECT_EQ(after.Value("latentsearch_encoder_models_loaded{}"), 0);
  } else {
    EXPECT_EQ(after.family_types.at("latentsearch_trainer_step_seconds"), "histogram");
    EXPECT_EQ(after.family_types.at("latentsearch_trainer_loss"), "gauge");
  }
  EXPECT_EQ(service->Stop(SIGTERM), 0);
}

INSTANTIATE_TEST_SUITE_P(Binaries, ServiceMetricsTest,
                         ::testing::Values("latentsearch-encoder", "latentsearch-trainer"));

}  // namespace
}  // namespace latentsearch

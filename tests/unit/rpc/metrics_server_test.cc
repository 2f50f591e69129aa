#include "common/rpc/metrics_server.h"

#include <memory>
#include <string>

#include "common/rpc/metrics.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace latentsearch::rpc {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MetricsServerTest, PortZeroServesTheRegistryAtSlashMetrics) {
  MetricsRegistry registry;
  Counter* scrapes_seen = registry.AddCounter("ls_test_total", "Test.", {})->Get({});
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsServer> server,
                       MetricsServer::Start("127.0.0.1:0", &registry));
  ASSERT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));

  httplib::Client client("127.0.0.1", server->port());
  auto first = client.Get("/metrics");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(first->body, HasSubstr("ls_test_total 0\n"));

  scrapes_seen->Increment(3);
  auto second = client.Get("/metrics");
  ASSERT_TRUE(second);
  EXPECT_THAT(second->body, HasSubstr("ls_test_total 3\n"));

  auto other = client.Get("/nothing-here");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  EXPECT_THAT(other->body, HasSubstr("/metrics"));

  server->Stop();
  server->Stop();  // Idempotent.
  httplib::Client after("127.0.0.1", server->port());
  EXPECT_FALSE(after.Get("/metrics")) << "still serving after Stop()";
}

TEST(MetricsServerTest, BadAddressesAreRefused) {
  MetricsRegistry registry;
  EXPECT_THAT(MetricsServer::Start("unix:/tmp/m.sock", &registry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
  EXPECT_THAT(MetricsServer::Start("nonsense", &registry),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nonsense")));
  ASSERT_OK_AND_ASSIGN(auto first, MetricsServer::Start("127.0.0.1:0", &registry));
  EXPECT_THAT(MetricsServer::Start(first->address(), &registry),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(first->address())));
}

TEST(MetricsServerTest, StopRightAfterStartReturns) {
  MetricsRegistry registry;
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(auto server, MetricsServer::Start("127.0.0.1:0", &registry));
    server->Stop();
  }
}

}  // namespace
}  // namespace latentsearch::rpc

#include "common/rpc/server.h"

#include <signal.h>

#include <chrono>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/rpc/reflection_client.h"
#include "common/rpc/shutdown_signal.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::rpc {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

// A Search service whose ListCollections parks the call until the test
// finishes it, so a test controls when an RPC is in flight.
class ParkingSearchService final : public v1::Search::CallbackService {
 public:
  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* ctx,
                                            const v1::ListCollectionsRequest*,
                                            v1::ListCollectionsResponse* response) override {
    response->add_collections()->set_name("parked");
    reactor_ = ctx->DefaultReactor();
    entered_.Notify();
    return reactor_;
  }
  void WaitEntered() { entered_.WaitForNotification(); }
  void Release() { reactor_->Finish(grpc::Status::OK); }

 private:
  absl::Notification entered_;
  grpc::ServerUnaryReactor* reactor_ = nullptr;
};

TEST(ParseListenAddressTest, AcceptsHostPortIpv6AndUnix) {
  ASSERT_OK_AND_ASSIGN(ListenAddress a, ParseListenAddress("127.0.0.1:50051"));
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 50051);
  EXPECT_FALSE(a.is_unix);
  ASSERT_OK_AND_ASSIGN(ListenAddress b, ParseListenAddress("[::1]:0"));
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 0);
  ASSERT_OK_AND_ASSIGN(ListenAddress c, ParseListenAddress("unix:/tmp/x.sock"));
  EXPECT_TRUE(c.is_unix);
  EXPECT_EQ(c.path, "/tmp/x.sock");
}

TEST(ParseListenAddressTest, RejectsMalformedAddressesSayingWhatIsAllowed) {
  EXPECT_THAT(ParseListenAddress("localhost"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HOST:PORT")));
  EXPECT_THAT(ParseListenAddress("127.0.0.1:99999"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..65535")));
  EXPECT_THAT(ParseListenAddress("127.0.0.1:http"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'http'")));
  EXPECT_THAT(ParseListenAddress(":50051"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no host")));
  EXPECT_THAT(ParseListenAddress("::1:50051"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("brackets")));
  EXPECT_THAT(ParseListenAddress("unix:"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("socket path")));
}

TEST(ServerTest, PortZeroHealthReflectionAndCleanShutdown) {
  ParkingSearchService service;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.health_names = {"latentsearch.v1.Search"};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options, {&service}));
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));

  auto channel = CreateChannel(server->address());
  EXPECT_THAT(CheckHealth(channel), IsOkAndHolds(HealthResponse::SERVING));
  EXPECT_THAT(CheckHealth(channel, "latentsearch.v1.Search"),
              IsOkAndHolds(HealthResponse::SERVING));
  EXPECT_THAT(CheckHealth(channel, "no.such.Service"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));

  ASSERT_OK_AND_ASSIGN(std::vector<std::string> services, ListServicesByReflection(channel));
  EXPECT_THAT(services, Contains("latentsearch.v1.Search"));
  EXPECT_THAT(services, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(services, Contains("grpc.reflection.v1alpha.ServerReflection"));

  server->Shutdown(absl::Seconds(5));
  server->Shutdown();  // Idempotent.
  EXPECT_THAT(CheckHealth(CreateChannel(server->address()), "", absl::Seconds(2)),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
}

// With max_connection_age the server sends GOAWAY once a connection is that
// old: the client's channel leaves READY (and a dns: target is looked up
// again when it reconnects), and the next call simply reconnects.
TEST(ServerTest, MaxConnectionAgeAsksClientsToReconnect) {
  ParkingSearchService service;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.max_connection_age = absl::Milliseconds(200);
  options.max_connection_age_grace = absl::Seconds(1);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options, {&service}));
  auto channel = CreateChannel(server->address());
  EXPECT_THAT(CheckHealth(channel), IsOkAndHolds(HealthResponse::SERVING));
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(channel->WaitForStateChange(
      GRPC_CHANNEL_READY, std::chrono::system_clock::now() + std::chrono::seconds(60)))
      << "the connection outlived max_connection_age";
  EXPECT_THAT(CheckHealth(channel), IsOkAndHolds(HealthResponse::SERVING));
}

TEST(ServerTest, ListensOnUnixSocket) {
  latentsearch::testing::TempDir dir;
  ServerOptions options;
  options.listen = "unix:" + dir.Join("search.sock");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options, {}));
  EXPECT_EQ(server->address(), options.listen);
  EXPECT_EQ(server->port(), 0);
  EXPECT_THAT(CheckHealth(CreateChannel(server->address())), IsOkAndHolds(HealthResponse::SERVING));
}

TEST(ChannelTest, ServiceConfigBalancesOnlyTargetsOfSeveralAddresses) {
  EXPECT_THAT(ServiceConfigFor("127.0.0.1:5"), ::testing::Not(::testing::HasSubstr("round_robin")));
  EXPECT_THAT(ServiceConfigFor("unix:/tmp/s"), ::testing::Not(::testing::HasSubstr("round_robin")));
  EXPECT_THAT(ServiceConfigFor("dns:///search:50053"), ::testing::HasSubstr("round_robin"));
  EXPECT_THAT(ServiceConfigFor("ipv4:127.0.0.1:1,127.0.0.1:2"),
              ::testing::HasSubstr("round_robin"));
  EXPECT_THAT(ServiceConfigFor("127.0.0.1:5"), ::testing::HasSubstr("retryPolicy"));
}

TEST(ChannelTest, ListWithADeadAddressReachesTheLiveOne) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options, {}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> dead, Server::Start(options, {}));
  const std::string dead_address = dead->address();
  dead->Shutdown();
  auto channel = CreateChannel("ipv4:" + dead_address + "," + server->address());
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(CheckHealth(channel, "", absl::Seconds(10)), IsOkAndHolds(HealthResponse::SERVING));
  }
}

TEST(ChannelTest, SingleAddressChannelReconnectsAfterItsServerRestarts) {
  latentsearch::testing::TempDir dir;
  ServerOptions options;
  options.listen = "unix:" + dir.Join("s.sock");
  auto channel = CreateChannel(options.listen);
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> first, Server::Start(options, {}));
    EXPECT_THAT(CheckHealth(channel), IsOkAndHolds(HealthResponse::SERVING));
    first->Shutdown();
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> second, Server::Start(options, {}));
  // pick_first goes idle when the connection drops and reconnects on this
  // call (round_robin would fail it fast while in reconnect backoff).
  EXPECT_THAT(CheckHealth(channel, "", absl::Seconds(10)), IsOkAndHolds(HealthResponse::SERVING));
}

TEST(ServerTest, AddressInUseIsUnavailableAndNamesTheAddress) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> first, Server::Start({}, {}));
  ServerOptions options;
  options.listen = first->address();
  EXPECT_THAT(Server::Start(options, {}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(first->address())));
}

TEST(ServerTest, MalformedListenAddressIsInvalidArgument) {
  ServerOptions options;
  options.listen = "nonsense";
  EXPECT_THAT(Server::Start(options, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nonsense")));
}

TEST(ServerTest, ReadinessCanStartNotServingAndFlip) {
  ServerOptions options;
  options.health_names = {"latentsearch.v1.Encoder"};
  options.initially_not_serving = {"latentsearch.v1.Encoder"};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options, {}));
  auto channel = CreateChannel(server->address());
  EXPECT_THAT(CheckHealth(channel, "latentsearch.v1.Encoder"),
              IsOkAndHolds(HealthResponse::NOT_SERVING));
  server->SetServing("latentsearch.v1.Encoder", true);
  EXPECT_THAT(CheckHealth(channel, "latentsearch.v1.Encoder"),
              IsOkAndHolds(HealthResponse::SERVING));
}

TEST(ServerTest, OversizedRequestIsRefusedWithResourceExhausted) {
  ParkingSearchService service;
  ServerOptions options;
  options.max_receive_message_bytes = 1024;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options, {&service}));
  auto stub = v1::Search::NewStub(CreateChannel(server->address()));
  grpc::ClientContext ctx;
  v1::SearchRequest request;
  request.set_collection(std::string(4096, 'x'));
  v1::SearchResponse response;
  grpc::Status status = stub->Search(&ctx, request, &response);
  EXPECT_EQ(status.error_code(), grpc::RESOURCE_EXHAUSTED);
}

// SIGTERM -> health NOT_SERVING -> the in-flight RPC drains and succeeds ->
// the server stops.
TEST(ServerTest, SigtermDrainsInFlightRpcsAfterGoingNotServing) {
  ParkingSearchService service;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start({}, {&service}));
  auto channel = CreateChannel(server->address());

  // A health watcher, to observe the NOT_SERVING transition.
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext watch_ctx;
  grpc::health::v1::HealthCheckRequest watch_req;
  auto watch = health->Watch(&watch_ctx, watch_req);
  HealthResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthResponse::SERVING);

  // An RPC the server holds open.
  auto stub = v1::Search::NewStub(channel);
  grpc::ClientContext call_ctx;
  v1::ListCollectionsRequest call_req;
  v1::ListCollectionsResponse call_resp;
  grpc::Status call_status;
  absl::Notification call_done;
  stub->async()->ListCollections(&call_ctx, &call_req, &call_resp, [&](grpc::Status s) {
    call_status = s;
    call_done.Notify();
  });
  service.WaitEntered();

  ASSERT_OK(ShutdownSignal::Install());
  std::thread waiter([&] {
    ShutdownSignal::Wait();
    server->Shutdown(absl::Seconds(30));
  });
  ASSERT_EQ(::raise(SIGTERM), 0);

  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthResponse::NOT_SERVING);
  watch_ctx.TryCancel();
  EXPECT_FALSE(call_done.HasBeenNotified());

  service.Release();
  call_done.WaitForNotification();
  EXPECT_TRUE(call_status.ok()) << call_status.error_message();
  ASSERT_EQ(call_resp.collections_size(), 1);
  EXPECT_EQ(call_resp.collections(0).name(), "parked");
  waiter.join();
  watch->Finish();
  EXPECT_EQ(ShutdownSignal::Wait(), SIGTERM);
}

}  // namespace
}  // namespace latentsearch::rpc

// TLS, mutual TLS and bearer tokens through the common Server bootstrap and
// ApplyClientSecurity, with certificates made by openssl for each test
// binary run, and the per-RPC metrics the bootstrap records.
#include "common/rpc/security.h"

#include <atomic>
#include <memory>
#include <string>

#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/rpc/metrics.h"
#include "common/rpc/rpc_metrics.h"
#include "common/rpc/server.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/unit/rpc/test_certs.h"

namespace latentsearch::rpc {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;
using HealthResponse = grpc::health::v1::HealthCheckResponse;

constexpr char kToken[] = "0123456789abcdef-good-token";
constexpr char kOtherToken[] = "fedcba9876543210-second-token";

// Counts how often its handler ran, so tests can prove a refused call never
// reached it.
class CountingSearchService final : public v1::Search::CallbackService {
 public:
  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* ctx,
                                            const v1::ListCollectionsRequest*,
                                            v1::ListCollectionsResponse* response) override {
    calls_.fetch_add(1);
    response->add_collections()->set_name("ok");
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
};

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new latentsearch::testing::TempDir();
    absl::StatusOr<latentsearch::testing::TestCerts> certs =
        latentsearch::testing::MakeTestCerts(dir_->path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = new latentsearch::testing::TestCerts(*certs);
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete dir_;
  }

  // ListCollections through a channel built from `client`.
  grpc::Status Call(const std::string& address, const ClientSecurityOptions& client) {
    ChannelOptions options;
    absl::Status s = ApplyClientSecurity(client, address, &options);
    if (!s.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
    auto stub = v1::Search::NewStub(CreateChannel(address, options));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListCollectionsRequest request;
    v1::ListCollectionsResponse response;
    return stub->ListCollections(&ctx, request, &response);
  }

  absl::StatusOr<HealthStatus> Health(const std::string& address,
                                      const ClientSecurityOptions& client) {
    ChannelOptions options;
    if (absl::Status s = ApplyClientSecurity(client, address, &options); !s.ok()) return s;
    return CheckHealth(CreateChannel(address, options), "", absl::Seconds(10));
  }

  ClientSecurityOptions TlsClient(const std::string& token = "") const {
    ClientSecurityOptions c;
    c.tls_ca_file = certs_->ca_cert;
    c.token = token;
    return c;
  }

  ServerSecurityOptions TlsServer() const {
    ServerSecurityOptions s;
    s.tls_cert_file = certs_->server_cert;
    s.tls_key_file = certs_->server_key;
    return s;
  }

  static latentsearch::testing::TempDir* dir_;
  static latentsearch::testing::TestCerts* certs_;
};

latentsearch::testing::TempDir* SecurityTest::dir_ = nullptr;
latentsearch::testing::TestCerts* SecurityTest::certs_ = nullptr;

TEST_F(SecurityTest, TlsServerAnswersTlsClientsAndRefusesPlaintext) {
  CountingSearchService service;
  ServerOptions options;
  options.security = TlsServer();
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(options, {&service}));

  EXPECT_TRUE(Call(server->address(), TlsClient()).ok());
  EXPECT_EQ(service.calls(), 1);
  // Plaintext client: the handshake fails.
  EXPECT_EQ(Call(server->address(), {}).error_code(), grpc::StatusCode::UNAVAILABLE);
  // A client that trusts another CA refuses the server's certificate.
  ClientSecurityOptions wrong_ca;
  wrong_ca.tls_ca_file = certs_->rogue_ca_cert;
  EXPECT_EQ(Call(server->address(), wrong_ca).error_code(), grpc::StatusCode::UNAVAILABLE);
  // "localhost" is in the certificate too.
  ClientSecurityOptions by_name = TlsClient();
  by_name.tls_server_name = "localhost";
  EXPECT_TRUE(Call(server->address(), by_name).ok());
  ClientSecurityOptions bad_name = TlsClient();
  bad_name.tls_server_name = "not-in-the-certificate.example";
  EXPECT_EQ(Call(server->address(), bad_name).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(service.calls(), 2);
}

TEST_F(SecurityTest, TokensOverTlsUnauthenticatedWithoutOrWithAWrongTokenHealthOpen) {
  CountingSearchService service;
  MetricsRegistry registry;
  RpcMetrics metrics(&registry);
  ServerOptions options;
  options.security = TlsServer();
  options.security.auth_tokens = {kToken, kOtherToken};
  options.metrics = &metrics;
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(options, {&service}));

  grpc::Status none = Call(server->address(), TlsClient());
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("Bearer"));
  grpc::Status wrong = Call(server->address(), TlsClient("0123456789abcdef-bad-token"));
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), HasSubstr("not accepted"));
  EXPECT_EQ(service.calls(), 0) << "a refused call reached the handler";

  EXPECT_TRUE(Call(server->address(), TlsClient(kToken)).ok());
  EXPECT_TRUE(Call(server->address(), TlsClient(kOtherToken)).ok());
  EXPECT_EQ(service.calls(), 2);

  // The health service stays open for probes.
  EXPECT_THAT(Health(server->address(), TlsClient()), IsOkAndHolds(HealthResponse::SERVING));

  const std::string page = registry.Render();
  EXPECT_THAT(page, HasSubstr("latentsearch_auth_failures_total{reason=\"missing\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("latentsearch_auth_failures_total{reason=\"invalid\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("grpc_server_handled_total{grpc_service=\"latentsearch.v1."
                              "Search\",grpc_method=\"ListCollections\",grpc_type=\"unary\","
                              "grpc_code=\"OK\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("grpc_server_handled_total{grpc_service=\"grpc.health.v1."
                              "Health\",grpc_method=\"Check\",grpc_type=\"unary\","
                              "grpc_code=\"OK\"} 1\n"));
}

TEST_F(SecurityTest, TokensWithoutTlsAreRefusedUnlessAllowedForLocalPeers) {
  ServerOptions options;
  options.security.auth_tokens = {kToken};
  EXPECT_THAT(Server::Start(options, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--allow_insecure_tokens")));
}

TEST_F(SecurityTest, InsecureTokensOnLoopbackAndUnixSocket) {
  latentsearch::testing::TempDir dir;
  for (const std::string& listen : {std::string("127.0.0.1:0"), "unix:" + dir.Join("s.sock")}) {
    SCOPED_TRACE(listen);
    CountingSearchService service;
    ServerOptions options;
    options.listen = listen;
    options.security.auth_tokens = {kToken};
    options.security.allow_insecure_tokens = true;
    ASSERT_OK_AND_ASSIGN(auto server, Server::Start(options, {&service}));

    // A plain client (no credentials at all) reaches the server, is refused.
    EXPECT_EQ(Call(server->address(), {}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    ClientSecurityOptions wrong;
    wrong.token = "0123456789abcdef-bad-token";
    EXPECT_EQ(Call(server->address(), wrong).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(service.calls(), 0);
    ClientSecurityOptions right;
    right.token = kToken;
    EXPECT_TRUE(Call(server->address(), right).ok());
    EXPECT_EQ(service.calls(), 1);
    // Health is open to a plain client.
    EXPECT_THAT(Health(server->address(), {}), IsOkAndHolds(HealthResponse::SERVING));
  }
}

TEST_F(SecurityTest, TokenClientAgainstAServerWithoutAuthStillWorks) {
  CountingSearchService service;
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start({}, {&service}));
  ClientSecurityOptions right;
  right.token = kToken;
  EXPECT_TRUE(Call(server->address(), right).ok());
}

TEST_F(SecurityTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  CountingSearchService service;
  ServerOptions options;
  options.security = TlsServer();
  options.security.tls_client_ca_file = certs_->ca_cert;
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(options, {&service}));

  EXPECT_EQ(Call(server->address(), TlsClient()).error_code(), grpc::StatusCode::UNAVAILABLE)
      << "a client without a certificate was let in";
  ClientSecurityOptions rogue = TlsClient();
  rogue.tls_cert_file = certs_->rogue_client_cert;
  rogue.tls_key_file = certs_->rogue_client_key;
  EXPECT_EQ(Call(server->address(), rogue).error_code(), grpc::StatusCode::UNAVAILABLE)
      << "a certificate from another CA was accepted";
  EXPECT_EQ(service.calls(), 0);

  ClientSecurityOptions good = TlsClient();
  good.tls_cert_file = certs_->client_cert;
  good.tls_key_file = certs_->client_key;
  EXPECT_TRUE(Call(server->address(), good).ok());
  EXPECT_EQ(service.calls(), 1);
}

TEST_F(SecurityTest, InconsistentOrUnreadableSettingsNameTheProblem) {
  ServerSecurityOptions key_only;
  key_only.tls_key_file = certs_->server_key;
  EXPECT_THAT(MakeServerCredentials(key_only, "127.0.0.1:0"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_cert")));
  ServerSecurityOptions ca_only;
  ca_only.tls_client_ca_file = certs_->ca_cert;
  EXPECT_THAT(MakeServerCredentials(ca_only, "127.0.0.1:0"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs TLS")));
  ServerSecurityOptions missing = TlsServer();
  missing.tls_cert_file = dir_->Join("no-such.crt");
  EXPECT_THAT(MakeServerCredentials(missing, "127.0.0.1:0"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-such.crt")));
  ServerSecurityOptions not_pem = TlsServer();
  not_pem.tls_cert_file = dir_->Join("server.ext");
  EXPECT_THAT(MakeServerCredentials(not_pem, "127.0.0.1:0"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not PEM")));

  ChannelOptions channel;
  ClientSecurityOptions half;
  half.tls_cert_file = certs_->client_cert;
  EXPECT_THAT(ApplyClientSecurity(half, "127.0.0.1:1", &channel),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("set both")));
  ClientSecurityOptions nothing;
  ASSERT_TRUE(ApplyClientSecurity(nothing, "127.0.0.1:1", &channel).ok());
  EXPECT_EQ(channel.credentials, nullptr);
}

TEST(TokensFileTest, OneTokenPerLineWithCommentsAndBlankLines) {
  latentsearch::testing::TempDir dir;
  const std::string path = dir.Join("tokens");
  ASSERT_TRUE(latentsearch::testing::WriteTextFile(
                  path, "# ops team\n  0123456789abcdef0123  \n\nsecond-token-0123456789\n")
                  .ok());
  EXPECT_THAT(ReadTokensFile(path), IsOkAndHolds(std::vector<std::string>{
                                        "0123456789abcdef0123", "second-token-0123456789"}));
  EXPECT_THAT(ReadTokenFile(path), IsOkAndHolds(std::string("0123456789abcdef0123")));

  ASSERT_TRUE(latentsearch::testing::WriteTextFile(path, "# nothing\n\n").ok());
  EXPECT_THAT(ReadTokensFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("holds no token")));
  ASSERT_TRUE(latentsearch::testing::WriteTextFile(path, "0123456789abcdef0123\nshort\n").ok());
  EXPECT_THAT(ReadTokensFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
  ASSERT_TRUE(latentsearch::testing::WriteTextFile(path, "has a space 0123456789abcdef\n").ok());
  EXPECT_THAT(ReadTokensFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without spaces")));
  EXPECT_THAT(ReadTokensFile(dir.Join("absent")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent")));
}

}  // namespace
}  // namespace latentsearch::rpc

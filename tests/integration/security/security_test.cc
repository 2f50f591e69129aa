// TLS, mutual TLS and bearer tokens on the real latentsearch-search binary
// (flags --tls_cert/--tls_key/--tls_client_ca/--auth_tokens_file), with
// certificates made by openssl for each run, through rpc::ApplyClientSecurity
// and through the `latentsearch` CLI's transport flags.
#include "common/rpc/security.h"

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/unit/rpc/test_certs.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;
using ::latentsearch::testing::TestCerts;
using ::testing::HasSubstr;

constexpr char kToken[] = "integration-token-0123456789abcdef";

class SearchSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(certs_, latentsearch::testing::MakeTestCerts(dir_.path()));
    tokens_file_ = dir_.Join("tokens");
    ASSERT_TRUE(latentsearch::testing::WriteTextFile(
                    tokens_file_, absl::StrCat("# accepted tokens\n", kToken, "\n"))
                    .ok());
  }

  // Starts latentsearch-search with `extra` flags.
  std::unique_ptr<Subprocess> StartSearch(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
                                     "--threads=1", "--data_dir=" + dir_.Join("data")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<Subprocess>> p =
        Subprocess::StartServer(argv, dir_.Join("search.log"));
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                         const rpc::ClientSecurityOptions& security) {
    rpc::ChannelOptions options;
    absl::Status s = rpc::ApplyClientSecurity(security, address, &options);
    EXPECT_TRUE(s.ok()) << s;
    return rpc::CreateChannel(address, options);
  }

  rpc::ClientSecurityOptions Tls(const std::string& token = "") const {
    rpc::ClientSecurityOptions c;
    c.tls_ca_file = certs_.ca_cert;
    c.token = token;
    return c;
  }

  static grpc::Status CreateCollection(const std::shared_ptr<grpc::Channel>& channel,
                                       const std::string& name) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::CreateCollectionRequest request;
    request.set_name(name);
    request.set_dim(4);
    v1::CollectionInfo info;
    return v1::Search::NewStub(channel)->CreateCollection(&ctx, request, &info);
  }

  static absl::StatusOr<std::vector<std::string>> ListCollections(
      const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListCollectionsResponse response;
    grpc::Status s = v1::Search::NewStub(channel)->ListCollections(
        &ctx, v1::ListCollectionsRequest(), &response);
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    std::vector<std::string> names;
    for (const auto& c : response.collections()) names.push_back(c.name());
    return names;
  }

  // Runs the CLI; returns its exit status and fills *output (stdout+stderr).
  int RunCli(const std::vector<std::string>& args, std::string* output) {
    std::string command = BinaryPath("latentsearch");
    for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
    return ::latentsearch::testing::RunShell(command, output);
  }

  TempDir dir_;
  TestCerts certs_;
  std::string tokens_file_;
};

TEST_F(SearchSecurityTest, TokensOverTlsUnauthenticatedUntilTheRightTokenHealthOpen) {
  std::unique_ptr<Subprocess> search =
      StartSearch({"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
                   "--auth_tokens_file=" + tokens_file_});
  ASSERT_NE(search, nullptr);

  grpc::Status none = CreateCollection(Channel(search->address(), Tls()), "no-token");
  EXPECT_EQ(none.error_code(), grpc::UNAUTHENTICATED) << none.error_message();
  grpc::Status wrong = CreateCollection(
      Channel(search->address(), Tls("integration-token-WRONG-0123456789")), "wrong-token");
  EXPECT_EQ(wrong.error_code(), grpc::UNAUTHENTICATED) << wrong.error_message();
  // Plaintext clients do not even get a connection.
  EXPECT_EQ(CreateCollection(rpc::CreateChannel(search->address()), "plain").error_code(),
            grpc::UNAVAILABLE);

  auto good = Channel(search->address(), Tls(kToken));
  ASSERT_TRUE(CreateCollection(good, "with-token").ok());
  // The refused calls never reached the handler: only one collection exists.
  EXPECT_THAT(ListCollections(good),
              ::latentsearch::testing::IsOkAndHolds(std::vector<std::string>{"with-token"}));
  EXPECT_THAT(ListCollections(Channel(search->address(), Tls())),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kUnauthenticated,
                                                HasSubstr("bearer token")));

  // Health stays open (still over TLS) for probes without a token.
  EXPECT_THAT(rpc::CheckHealth(Channel(search->address(), Tls())),
              ::latentsearch::testing::IsOkAndHolds(
                  rpc::HealthStatus(grpc::health::v1::HealthCheckResponse::SERVING)));
  EXPECT_EQ(search->Stop(SIGTERM), 0);
}

TEST_F(SearchSecurityTest, MutualTlsRejectsClientsWithoutACertificate) {
  std::unique_ptr<Subprocess> search =
      StartSearch({"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
                   "--tls_client_ca=" + certs_.ca_cert});
  ASSERT_NE(search, nullptr);

  EXPECT_EQ(CreateCollection(Channel(search->address(), Tls()), "no-cert").error_code(),
            grpc::UNAVAILABLE);
  rpc::ClientSecurityOptions rogue = Tls();
  rogue.tls_cert_file = certs_.rogue_client_cert;
  rogue.tls_key_file = certs_.rogue_client_key;
  EXPECT_EQ(CreateCollection(Channel(search->address(), rogue), "rogue").error_code(),
            grpc::UNAVAILABLE);

  rpc::ClientSecurityOptions with_cert = Tls();
  with_cert.tls_cert_file = certs_.client_cert;
  with_cert.tls_key_file = certs_.client_key;
  ASSERT_TRUE(CreateCollection(Channel(search->address(), with_cert), "with-cert").ok());
  EXPECT_THAT(ListCollections(Channel(search->address(), with_cert)),
              ::latentsearch::testing::IsOkAndHolds(std::vector<std::string>{"with-cert"}));
  EXPECT_EQ(search->Stop(SIGTERM), 0);
}

TEST_F(SearchSecurityTest, TokensWithoutTlsRefuseToStartUnlessAllowedForLocalPeers) {
  absl::StatusOr<std::unique_ptr<Subprocess>> refused = Subprocess::StartServer(
      {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
       "--data_dir=" + dir_.Join("refused"), "--auth_tokens_file=" + tokens_file_},
      dir_.Join("refused.log"));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("--allow_insecure_tokens"));

  std::unique_ptr<Subprocess> search =
      StartSearch({"--auth_tokens_file=" + tokens_file_, "--allow_insecure_tokens"});
  ASSERT_NE(search, nullptr);
  EXPECT_EQ(CreateCollection(rpc::CreateChannel(search->address()), "plain").error_code(),
            grpc::UNAUTHENTICATED);
  rpc::ClientSecurityOptions token_only;
  token_only.token = kToken;
  EXPECT_TRUE(CreateCollection(Channel(search->address(), token_only), "local").ok());
  EXPECT_THAT(rpc::CheckHealth(rpc::CreateChannel(search->address())),
              ::latentsearch::testing::IsOkAndHolds(
                  rpc::HealthStatus(grpc::health::v1::HealthCheckResponse::SERVING)));
  EXPECT_EQ(search->Stop(SIGTERM), 0);
}

TEST_F(SearchSecurityTest, CliWorksAgainstATlsAndTokenSearchServiceWithItsFlags) {
  if (::access(BinaryPath("latentsearch").c_str(), X_OK) != 0) {
    GTEST_SKIP() << "the latentsearch CLI is not built";
  }
  std::unique_ptr<Subprocess> search =
      StartSearch({"--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
                   "--auth_tokens_file=" + tokens_file_});
  ASSERT_NE(search, nullptr);
  const std::string token_file = dir_.Join("client-token");
  ASSERT_TRUE(latentsearch::testing::WriteTextFile(token_file, std::string(kToken) + "\n").ok());
  const std::vector<std::string> bench = {"bench",
                                          "--search_address=" + search->address(),
                                          "--collection=cli",
                                          "--populate=50",
                                          "--dim=8",
                                          "--concurrency=1",
                                          "--duration_seconds=0.2"};

  std::string output;
  std::vector<std::string> no_token = bench;
  no_token.push_back("--tls_ca=" + certs_.ca_cert);
  EXPECT_NE(RunCli(no_token, &output), 0);
  EXPECT_THAT(output, HasSubstr("UNAUTHENTICATED"));

  std::vector<std::string> with_token = no_token;
  with_token.push_back("--token_file=" + token_file);
  EXPECT_EQ(RunCli(with_token, &output), 0) << output;

  // The collection the CLI populated is there (read back with our own client).
  EXPECT_THAT(ListCollections(Channel(search->address(), Tls(kToken))),
              ::latentsearch::testing::IsOkAndHolds(std::vector<std::string>{"cli"}));
  EXPECT_EQ(search->Stop(SIGTERM), 0);
}

// Search by image makes the search service call the encoder: over TLS with
// the encoder's CA, and with the token from --encoder_token_file. The
// encoder has no model, so a call that got through answers "no model is
// loaded yet"; one refused at the encoder's door is an INTERNAL error naming
// the search service's flags (not UNAUTHENTICATED: the caller's credentials
// were fine).
TEST_F(SearchSecurityTest, SearchCallsATlsAndTokenEncoderWithItsEncoderFlags) {
  const std::string encoder_bin = BinaryPath("latentsearch-encoder");
  if (::access(encoder_bin.c_str(), X_OK) != 0) GTEST_SKIP() << encoder_bin << " is not built";
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Subprocess> encoder,
      Subprocess::StartServer(
          {encoder_bin, "--listen=127.0.0.1:0", "--threads=1", "--data_dir=" + dir_.Join("encoder"),
           "--tls_cert=" + certs_.server_cert, "--tls_key=" + certs_.server_key,
           "--auth_tokens_file=" + tokens_file_},
          dir_.Join("encoder.log")));
  const std::string token_file = dir_.Join("encoder-token");
  ASSERT_TRUE(latentsearch::testing::WriteTextFile(token_file, std::string(kToken) + "\n").ok());

  auto image_query = [this](const std::vector<std::string>& flags,
                            const std::string& data) -> grpc::Status {
    std::vector<std::string> argv = {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
                                     "--threads=1", "--data_dir=" + dir_.Join(data)};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<Subprocess>> search =
        Subprocess::StartServer(argv, dir_.Join(data + ".log"));
    if (!search.ok()) return grpc::Status(grpc::StatusCode::ABORTED, search.status().ToString());
    auto channel = rpc::CreateChannel((*search)->address());
    auto stub = v1::Search::NewStub(channel);
    {
      grpc::ClientContext ctx;
      v1::CreateCollectionRequest request;
      request.set_name("images");
      request.set_dim(4);
      request.mutable_model()->set_name("default");
      request.mutable_model()->set_version(1);
      v1::CollectionInfo info;
      grpc::Status created = stub->CreateCollection(&ctx, request, &info);
      if (!created.ok()) return created;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SearchRequest request;
    request.set_collection("images");
    v1::RawImage* raw = request.mutable_image()->mutable_raw();
    raw->set_height(2);
    raw->set_width(2);
    raw->set_channels(1);
    raw->set_pixels(std::string(4, '\x80'));
    v1::SearchResponse response;
    grpc::Status status = stub->Search(&ctx, request, &response);
    (*search)->Stop(SIGTERM);
    return status;
  };

  const std::string to_encoder = "--encoder=" + encoder->address();
  grpc::Status no_token =
      image_query({to_encoder, "--encoder_tls_ca=" + certs_.ca_cert}, "no-token");
  EXPECT_EQ(no_token.error_code(), grpc::INTERNAL) << no_token.error_message();
  EXPECT_THAT(no_token.error_message(), HasSubstr("--encoder_token_file"));
  EXPECT_THAT(no_token.error_message(), HasSubstr("bearer token"));

  grpc::Status plaintext = image_query({to_encoder}, "plaintext");
  EXPECT_EQ(plaintext.error_code(), grpc::UNAVAILABLE) << plaintext.error_message();

  grpc::Status through = image_query(
      {to_encoder, "--encoder_tls_ca=" + certs_.ca_cert, "--encoder_token_file=" + token_file},
      "through");
  EXPECT_EQ(through.error_code(), grpc::UNAVAILABLE) << through.error_message();
  EXPECT_THAT(through.error_message(), HasSubstr("no model is loaded yet"))
      << "the call did not reach the encoder's handler";
  EXPECT_EQ(encoder->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace latentsearch

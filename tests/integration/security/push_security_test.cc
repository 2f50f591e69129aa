// The trainer's checkpoint pusher (GrpcCheckpointPusher, what
// latentsearch-trainer's --push_tls* / --push_token_file configure) against
// the real latentsearch-encoder serving TLS + bearer tokens. The pushed
// checkpoint is garbage on purpose: a push that got through is refused by
// the encoder's verification (not UNAUTHENTICATED, not UNAVAILABLE).
#include <signal.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/trainer/push_client.h"
#include "tests/unit/rpc/test_certs.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kToken[] = "push-token-0123456789abcdef0123";

TEST(PushSecurityTest, PusherUsesTlsAndTokenTowardsTheEncoder) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(latentsearch::testing::TestCerts certs,
                       latentsearch::testing::MakeTestCerts(dir.path()));
  ASSERT_TRUE(
      latentsearch::testing::WriteTextFile(dir.Join("tokens"), absl::StrCat(kToken, "\n")).ok());
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<Subprocess> encoder,
      Subprocess::StartServer(
          {BinaryPath("latentsearch-encoder"), "--listen=127.0.0.1:0", "--threads=1",
           "--data_dir=" + dir.Join("encoder"), "--tls_cert=" + certs.server_cert,
           "--tls_key=" + certs.server_key, "--auth_tokens_file=" + dir.Join("tokens")},
          dir.Join("encoder.log")));

  model::Checkpoint garbage;
  garbage.metadata.model_name = "default";
  garbage.metadata.architecture = "conv";
  garbage.metadata.latent_size = 8;
  garbage.weights = std::string(1000, 'x');

  auto push = [&](const rpc::ClientSecurityOptions& security) {
    trainer::GrpcPusherOptions options;
    options.security = security;
    options.deadline = absl::Seconds(30);
    return trainer::GrpcCheckpointPusher(options).Push(encoder->address(), garbage);
  };

  rpc::ClientSecurityOptions tls_only;
  tls_only.tls_ca_file = certs.ca_cert;
  EXPECT_THAT(push(tls_only),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr(encoder->address())));
  rpc::ClientSecurityOptions wrong = tls_only;
  wrong.token = "push-token-WRONG-0123456789abcdef";
  EXPECT_THAT(push(wrong), StatusIs(absl::StatusCode::kUnauthenticated, ::testing::_));
  EXPECT_THAT(push({}), StatusIs(absl::StatusCode::kUnavailable, ::testing::_))
      << "plaintext reached a TLS encoder";

  rpc::ClientSecurityOptions right = tls_only;
  right.token = kToken;
  absl::Status through = push(right);
  EXPECT_FALSE(through.ok());
  EXPECT_NE(through.code(), absl::StatusCode::kUnauthenticated) << through;
  EXPECT_NE(through.code(), absl::StatusCode::kUnavailable) << through;
  EXPECT_EQ(encoder->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace latentsearch

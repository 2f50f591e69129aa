// latentsearch-probe (clients/probe), the health check every container
// image and Kubernetes exec probe runs: exit 0 exactly when the service
// answers SERVING, 1 for NOT_SERVING / unknown name / server down, 2 for a
// usage error. Runs the real probe against the real search binary on a unix
// socket.

#include <csignal>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

// Runs the probe with `args`; returns its exit code and puts its output
// (stdout + stderr) into *output.
int RunProbe(const std::string& args, std::string* output) {
  return ::latentsearch::testing::RunShell(
      absl::StrCat(BinaryPath("latentsearch-probe"), " ", args), output);
}

class ProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.Join("search.sock");
    auto server =
        Subprocess::StartServer({BinaryPath("latentsearch-search"), "--listen=unix:" + socket_,
                                 "--data_dir=" + dir_.Join("data")},
                                dir_.Join("search.log"));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Subprocess> server_;
};

TEST_F(ProbeTest, ServingServerAndServiceExitZero) {
  std::string out;
  EXPECT_EQ(RunProbe("--address=unix:" + socket_, &out), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("SERVING"));
  EXPECT_EQ(RunProbe("--address=unix:" + socket_ + " --service=latentsearch.v1.Search", &out), 0)
      << out;
  EXPECT_EQ(RunProbe("--quiet --address=unix:" + socket_, &out), 0) << out;
  EXPECT_EQ(out, "");
}

TEST_F(ProbeTest, UnknownServiceNameExitsOne) {
  std::string out;
  EXPECT_EQ(RunProbe("--address=unix:" + socket_ + " --service=latentsearch.v1.Nope", &out), 1)
      << out;
  EXPECT_THAT(out, ::testing::HasSubstr("NOT_FOUND"));
}

TEST_F(ProbeTest, StoppedServerExitsOne) {
  ASSERT_EQ(server_->Stop(SIGTERM), 0);
  std::string out;
  EXPECT_EQ(RunProbe("--timeout_seconds=2 --address=unix:" + socket_, &out), 1) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("UNAVAILABLE"));
}

TEST_F(ProbeTest, UsageErrorsExitTwo) {
  std::string out;
  EXPECT_EQ(RunProbe("--address=unix:" + socket_ + " --timeout_seconds=0", &out), 2) << out;
  EXPECT_EQ(RunProbe("--address=unix:" + socket_ + " --tls_ca=" + dir_.Join("missing.pem"), &out),
            2)
      << out;
  EXPECT_THAT(out, ::testing::HasSubstr("missing.pem"));
  EXPECT_EQ(RunProbe("--address=unix:" + socket_ + " --tls_cert=x.pem", &out), 2) << out;
}

}  // namespace
}  // namespace latentsearch

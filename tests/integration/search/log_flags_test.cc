// The shared service bootstrap's log flags (services/common/service_main.cc),
// on the real search binary: a bad --log_level is refused before serving,
// naming what is allowed; a quiet level hides INFO lines but never the
// "listening on" line scripts and tests wait for.
#include <csignal>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

// Runs the search binary with `args` to completion; returns its exit code
// and its stdout + stderr in *output.
int RunSearch(const std::string& args, std::string* output) {
  return ::latentsearch::testing::RunShell(
      absl::StrCat(BinaryPath("latentsearch-search"), " ", args, " </dev/null"), output);
}

TEST(LogFlagsTest, AnUnknownLevelIsRefusedNamingTheAllowedOnes) {
  TempDir dir;
  std::string out;
  EXPECT_EQ(RunSearch(absl::StrCat("--listen=unix:", dir.Join("s.sock"),
                                   " --data_dir=", dir.Join("data"), " --log_level=loud"),
                      &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("--log_level: log level 'loud' is not one of: info, warning, error"));
  EXPECT_THAT(out, Not(HasSubstr("listening on")));
}

TEST(LogFlagsTest, AQuietLevelHidesInfoButNotTheListeningLine) {
  TempDir dir;
  const std::string log = dir.Join("search.log");
  auto server = Subprocess::StartServer(
      {BinaryPath("latentsearch-search"), "--listen=unix:" + dir.Join("s.sock"),
       "--data_dir=" + dir.Join("data"), "--log_level=error"},
      log);
  ASSERT_TRUE(server.ok()) << server.status();  // it found "listening on"
  ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  absl::StatusOr<std::string> text = base::ReadFile(log);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("latentsearch-search: listening on unix:"));
  // INFO lines (glog prefix 'I' + date) such as the drain messages are gone.
  EXPECT_THAT(*text, Not(HasSubstr("draining")));
  EXPECT_THAT(*text, Not(HasSubstr("stopped")));
}

TEST(LogFlagsTest, TheDefaultLevelLogsTheDrainAtInfo) {
  TempDir dir;
  const std::string log = dir.Join("search.log");
  auto server = Subprocess::StartServer(
      {BinaryPath("latentsearch-search"), "--listen=unix:" + dir.Join("s.sock"),
       "--data_dir=" + dir.Join("data")},
      log);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ((*server)->Stop(SIGTERM), 0);
  absl::StatusOr<std::string> text = base::ReadFile(log);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("draining"));
  EXPECT_THAT(*text, HasSubstr("] latentsearch-search: listening on unix:"));  // glog prefix
}

}  // namespace
}  // namespace latentsearch

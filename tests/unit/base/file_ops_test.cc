// PublishFile through the recording FileOps: the order of operations, and
// that a failure before the rename leaves the target untouched.
#include "common/base/file_ops.h"

#include <string>

#include "absl/strings/match.h"
#include "common/base/file.h"
#include "common/base/recording_file_ops.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::_;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;
using ::testing::StartsWith;

absl::Status WriteText(WritableFile& f) { return f.Append("new"); }

TEST(FileOpsTest, PublishSyncsTheTempFileBeforeTheRenameAndTheDirectoryAfter) {
  TempDir tmp;
  const std::string path = tmp.Join("a.bin");
  RecordingFileOps ops;
  ASSERT_OK(PublishFile(ops, path, WriteText));
  EXPECT_THAT(ReadFile(path), IsOkAndHolds("new"));
  const std::vector<std::string> events = ops.events();
  ASSERT_EQ(events.size(), 6u);
  const std::string temp = events[0].substr(std::string("create ").size());
  EXPECT_TRUE(absl::StartsWith(temp, path + ".tmp.")) << temp;
  EXPECT_THAT(events,
              ElementsAre("create " + temp, "append " + temp, "sync " + temp, "close " + temp,
                          "rename " + temp + " " + path, "syncdir " + tmp.path()));
}

TEST(FileOpsTest, FailedSyncMeansNoRenameAndNoTempFileLeft) {
  TempDir tmp;
  const std::string path = tmp.Join("a.bin");
  ASSERT_OK(WriteFileAtomically(path, "old"));
  RecordingFileOps ops;
  ops.FailOn("sync", absl::UnknownError("injected fsync failure"));
  EXPECT_THAT(PublishFile(ops, path, WriteText), StatusIs(absl::StatusCode::kUnknown, _));
  EXPECT_THAT(ops.events(), Not(Contains(StartsWith("rename"))));
  EXPECT_THAT(ops.events(), Contains(StartsWith("remove")));
  EXPECT_THAT(ReadFile(path), IsOkAndHolds("old"));
}

TEST(FileOpsTest, DirName) {
  EXPECT_EQ(DirName("a"), ".");
  EXPECT_EQ(DirName("/a"), "/");
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
}

}  // namespace
}  // namespace latentsearch::base

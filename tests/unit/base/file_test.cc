#include "common/base/file.h"

#include <dirent.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(FileTest, WriteAtomicallyThenReadBack) {
  TempDir tmp;
  std::string path = tmp.Join("a.bin");
  std::string data("\0\1binary\xff", 10);
  ASSERT_OK(WriteFileAtomically(path, data));
  EXPECT_THAT(ReadFile(path), IsOkAndHolds(data));
  EXPECT_THAT(FileSize(path), IsOkAndHolds(10u));
  ASSERT_OK(WriteFileAtomically(path, "v2"));
  EXPECT_THAT(ReadFile(path), IsOkAndHolds(std::string("v2")));
  EXPECT_THAT(ListDir(tmp.path()), ElementsAre("a.bin"));  // No temp files left.
}

TEST(FileTest, FailedPublishLeavesTargetIntactAndNoTempFile) {
  TempDir tmp;
  // The target is a non-empty directory: the final rename must fail.
  std::string target = tmp.Join("model");
  ASSERT_OK(MakeDirs(target));
  ASSERT_OK(WriteFileAtomically(base::JoinPath(target, "keep"), "old"));
  absl::Status s = WriteFileAtomically(target, "new contents");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr(target));
  EXPECT_THAT(ListDir(tmp.path()), ElementsAre("model"));
  EXPECT_THAT(ReadFile(JoinPath(target, "keep")), IsOkAndHolds(std::string("old")));
}

TEST(FileTest, WriteIntoMissingDirectoryIsNotFoundNamingThePath) {
  TempDir tmp;
  std::string path = tmp.Join("no/such/dir/file");
  EXPECT_THAT(WriteFileAtomically(path, "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no/such/dir")));
}

TEST(FileTest, ReadMissingFileIsNotFound) {
  TempDir tmp;
  EXPECT_THAT(ReadFile(tmp.Join("missing")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  EXPECT_THAT(FileSize(tmp.Join("missing")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

TEST(FileTest, ReadDirectoryIsFailedPrecondition) {
  TempDir tmp;
  EXPECT_THAT(ReadFile(tmp.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is a directory")));
}

TEST(FileTest, MakeDirsCreatesParentsAndIsIdempotent) {
  TempDir tmp;
  std::string deep = tmp.Join("a/b/c");
  ASSERT_OK(MakeDirs(deep));
  ASSERT_OK(MakeDirs(deep));
  ASSERT_OK(WriteFileAtomically(JoinPath(deep, "f"), "x"));
  ASSERT_OK(WriteFileAtomically(tmp.Join("file"), "x"));
  EXPECT_THAT(MakeDirs(tmp.Join("file")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
}

TEST(FileTest, JoinPathUsesExactlyOneSlash) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a", "/b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("a", ""), "a");
}

}  // namespace
}  // namespace latentsearch::base

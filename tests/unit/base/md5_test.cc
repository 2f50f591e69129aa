// MD5 against the RFC 1321 test suite, in memory and streamed from a file.
#include "common/base/md5.h"

#include <string>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::_;

TEST(Md5Test, Rfc1321Vectors) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5Hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5Hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(
      Md5Hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
      "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(Md5Test, StreamingEqualsOneShot) {
  Md5 md5;
  md5.Update("message ");
  md5.Update("digest");
  EXPECT_EQ(md5.HexDigest(), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(Md5Test, FileLargerThanOneChunk) {
  TempDir tmp;
  const std::string path = tmp.Join("big");
  const std::string data((3 << 20) + 17, 'x');
  ASSERT_OK(WriteFileAtomically(path, data));
  EXPECT_THAT(Md5FileHex(path), IsOkAndHolds(Md5Hex(data)));
}

TEST(Md5Test, MissingFileIsNotFound) {
  TempDir tmp;
  EXPECT_THAT(Md5FileHex(tmp.Join("absent")), StatusIs(absl::StatusCode::kNotFound, _));
}

}  // namespace
}  // namespace latentsearch::base

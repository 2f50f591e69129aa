// errno → absl::Status mapping.
#include "common/base/errno_status.h"

#include <errno.h>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::_;
using ::testing::HasSubstr;

TEST(ErrnoStatusTest, MapsCodes) {
  EXPECT_THAT(ErrnoToStatus(ENOENT, "open x"), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(ErrnoToStatus(EACCES, "open x"), StatusIs(absl::StatusCode::kPermissionDenied, _));
  EXPECT_THAT(ErrnoToStatus(EPERM, "open x"), StatusIs(absl::StatusCode::kPermissionDenied, _));
  EXPECT_THAT(ErrnoToStatus(ENOSPC, "write x"), StatusIs(absl::StatusCode::kResourceExhausted, _));
  EXPECT_THAT(ErrnoToStatus(EDQUOT, "write x"), StatusIs(absl::StatusCode::kResourceExhausted, _));
  EXPECT_THAT(ErrnoToStatus(EIO, "read x"), StatusIs(absl::StatusCode::kUnknown, _));
  EXPECT_THAT(ErrnoToStatus(0, "read x"), StatusIs(absl::StatusCode::kUnknown, _));
}

TEST(ErrnoStatusTest, MessageNamesOperationPathAndCause) {
  absl::Status s = ErrnoError("open", "/no/such", ENOENT);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound,
                          HasSubstr("open '/no/such': No such file or directory")));
  EXPECT_EQ(ErrnoText(ENOSPC), "No space left on device");
}

}  // namespace
}  // namespace latentsearch::base

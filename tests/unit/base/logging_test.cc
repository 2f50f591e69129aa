#include "common/base/logging.h"

#include <cstdint>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(ParseLogLevelTest, NamesInAnyCase) {
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("WARNING"), LogLevel::kWarning);
  EXPECT_EQ(*ParseLogLevel("Error"), LogLevel::kError);
}

TEST(ParseLogLevelTest, UnknownLevelNamesTheValueAndWhatIsAllowed) {
  EXPECT_THAT(ParseLogLevel("debug").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'debug'"), HasSubstr("info, warning, error"))));
  EXPECT_THAT(ParseLogLevel("").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not one of")));
}

TEST(InitLoggingTest, SetsTheLevelsAndCanBeCalledAgain) {
  // The flags are process-wide: put them back for the tests that follow.
  const int32_t saved_minloglevel = FLAGS_minloglevel;
  const int32_t saved_v = FLAGS_v;
  const bool saved_logtostderr = FLAGS_logtostderr;
  InitLogging("logging_test", LogLevel::kError, 2);
  EXPECT_EQ(FLAGS_minloglevel, 2);
  EXPECT_EQ(FLAGS_v, 2);
  EXPECT_TRUE(FLAGS_logtostderr);
  InitLogging("logging_test", LogLevel::kWarning);  // a second call only sets the levels
  EXPECT_EQ(FLAGS_minloglevel, 1);
  EXPECT_EQ(FLAGS_v, 0);
  FLAGS_minloglevel = saved_minloglevel;
  FLAGS_v = saved_v;
  FLAGS_logtostderr = saved_logtostderr;
}

}  // namespace
}  // namespace latentsearch::base

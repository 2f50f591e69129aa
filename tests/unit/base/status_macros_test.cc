#include "common/base/status_macros.h"

#include <memory>
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  LS_ASSIGN_OR_RETURN(int half, Half(x));
  LS_ASSIGN_OR_RETURN(int quarter, Half(half));  // Two in one scope.
  return quarter;
}

absl::Status CheckEven(int x, int* calls) {
  ++*calls;
  LS_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<int>> MoveOnly(bool ok) {
  if (!ok) return absl::NotFoundError("none");
  return std::make_unique<int>(7);
}

absl::StatusOr<int> UseMoveOnly(bool ok) {
  std::unique_ptr<int> p;
  LS_ASSIGN_OR_RETURN(p, MoveOnly(ok));  // Assigns an existing variable.
  return *p;
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_THAT(Quarter(3), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
}

TEST(StatusMacrosTest, ReturnIfErrorEvaluatesOnce) {
  int calls = 0;
  EXPECT_THAT(CheckEven(4, &calls), IsOk());
  EXPECT_THAT(CheckEven(5, &calls), Not(IsOk()));
  EXPECT_EQ(calls, 2);
}

TEST(StatusMacrosTest, WorksWithMoveOnlyValuesAndExistingVariables) {
  EXPECT_THAT(UseMoveOnly(true), IsOkAndHolds(7));
  EXPECT_THAT(UseMoveOnly(false), StatusIs(absl::StatusCode::kNotFound, HasSubstr("none")));
}

TEST(StatusMatchersTest, MatchersDescribeFailures) {
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(::testing::ExplainMatchResult(IsOk(), absl::InternalError("boom"), &listener));
  EXPECT_THAT(listener.str(), HasSubstr("boom"));
}

}  // namespace
}  // namespace latentsearch

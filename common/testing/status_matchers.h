// gMock matchers for absl::Status / absl::StatusOr (Abseil 20220623 ships
// none).
//
//   EXPECT_THAT(DoThing(), IsOk());
//   EXPECT_THAT(Parse(x), StatusIs(absl::StatusCode::kDataLoss,
//                                  HasSubstr("truncated")));
//   EXPECT_THAT(Compute(), IsOkAndHolds(42));
//   ASSERT_OK(DoThing());  ASSERT_OK_AND_ASSIGN(auto v, Compute());
#ifndef LATENTSEARCH_COMMON_TESTING_STATUS_MATCHERS_H_
#define LATENTSEARCH_COMMON_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::latentsearch::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + std::string(absl::StatusCodeToString(code)) + " and a matching message") {
  const absl::Status& s = ::latentsearch::testing::GetStatus(arg);
  *result_listener << "status is " << s;
  if (s.code() != code) return false;
  return ::testing::Matches(message_matcher)(std::string(s.message()));
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace latentsearch::testing

#define LS_TESTING_CONCAT_INNER_(x, y) x##y
#define LS_TESTING_CONCAT_(x, y) LS_TESTING_CONCAT_INNER_(x, y)

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::latentsearch::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::latentsearch::testing::IsOk())

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(LS_TESTING_CONCAT_(ls_statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  ASSERT_TRUE(statusor.ok()) << statusor.status();       \
  lhs = std::move(statusor).value()

#endif  // LATENTSEARCH_COMMON_TESTING_STATUS_MATCHERS_H_

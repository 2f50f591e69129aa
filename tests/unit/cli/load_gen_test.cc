#include "clients/cli/load_gen.h"

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::cli {
namespace {

TEST(LoadGenTest, CountsCallsAndErrorsPerThread) {
  std::atomic<uint64_t> calls{0};
  LoadStats s = RunLoad(
      [&](int thread, uint64_t i) {
        calls.fetch_add(1);
        return i % 2 == 0 ? absl::OkStatus() : absl::UnavailableError("odd call");
      },
      3, absl::Milliseconds(50), absl::ZeroDuration());
  EXPECT_EQ(s.concurrency, 3);
  EXPECT_GT(s.calls, 0u);
  EXPECT_GT(s.errors, 0u);
  // Every call is either measured or an error (no warm-up here).
  EXPECT_EQ(s.calls + s.errors, calls.load());
  EXPECT_EQ(s.first_error.code(), absl::StatusCode::kUnavailable);
  EXPECT_LE(s.p50_us, s.p90_us);
  EXPECT_LE(s.p90_us, s.p99_us);
}

TEST(LoadGenTest, RowFormatHasEveryColumn) {
  LoadStats s;
  s.concurrency = 8;
  s.qps = 1234;
  s.p50_us = 10.5;
  EXPECT_THAT(FormatLoadRow("Search", s), ::testing::HasSubstr("1234"));
  EXPECT_THAT(LoadHeader(), ::testing::HasSubstr("p99 us"));
}

}  // namespace
}  // namespace latentsearch::cli

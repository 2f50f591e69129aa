#include "common/data/parallel.h"

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::data::internal {
namespace {

using ::latentsearch::testing::StatusIs;

TEST(ParallelForTest, RunsEveryItemOnce) {
  for (int threads : {0, 1, 2, 7}) {
    std::vector<std::atomic<int>> hits(1000);
    ASSERT_OK(ParallelFor(hits.size(), threads, [&](size_t i) {
      hits[i].fetch_add(1);
      return absl::OkStatus();
    }));
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
  EXPECT_OK(ParallelFor(0, 4, [](size_t) { return absl::InternalError("never"); }));
}

TEST(ParallelForTest, ReturnsTheLowestFailingIndex) {
  for (int round = 0; round < 20; ++round) {
    absl::Status s = ParallelFor(500, 4, [](size_t i) {
      if (i % 97 == 40) return absl::DataLossError(absl::StrCat("item ", i));
      return absl::OkStatus();
    });
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss, "item 40"));
  }
}

}  // namespace
}  // namespace latentsearch::data::internal

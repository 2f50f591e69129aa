// KnnRankedLabels (common/eval/knn_ranking.h) on points on a line, worked
// out by hand: self rows left out, separate queries, cosine sharing one
// copy, and the refusals.
#include "common/eval/knn_ranking.h"

#include <cstdint>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::eval {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Points 0, 1 (class 0) and 10, 12 (class 1).
const std::vector<float> kX = {0, 1, 10, 12};
const std::vector<int32_t> kY = {0, 0, 1, 1};

TEST(KnnRankedLabelsTest, LeavesTheSelfRowOut) {
  const std::vector<uint32_t> self = {0, 1, 2, kNotInBase};
  KnnRankOptions o;
  o.k = 3;
  o.threads = 1;
  o.self_rows = self;
  ASSERT_OK_AND_ASSIGN(std::vector<RankedLabels> r,
                       KnnRankedLabels(index::Metric::kL2, kX, kY, kX, 1, o));
  ASSERT_EQ(r.size(), 4u);
  // 0 -> 0 (self), 1, 10.
  EXPECT_THAT(r[0].including_self, ElementsAre(0, 0, 1));
  EXPECT_THAT(r[0].excluding_self, ElementsAre(0, 1));
  // 10 -> 10 (self), 12, 1.
  EXPECT_THAT(r[2].including_self, ElementsAre(1, 1, 0));
  EXPECT_THAT(r[2].excluding_self, ElementsAre(1, 0));
  // 12 is told it is no base row: nothing is left out.
  EXPECT_THAT(r[3].excluding_self, ElementsAre(1, 1, 0));
  EXPECT_EQ(r[3].excluding_self, r[3].including_self);
}

TEST(KnnRankedLabelsTest, SeparateQueriesAndMoreRowsThanTheBase) {
  const std::vector<float> q = {11, 2};
  KnnRankOptions o;
  o.k = 6;  // only 4 rows come back
  ASSERT_OK_AND_ASSIGN(std::vector<RankedLabels> r,
                       KnnRankedLabels(index::Metric::kL1, kX, kY, q, 1, o));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_THAT(r[0].excluding_self, ElementsAre(1, 1, 0, 0));  // 10, 12, 1, 0
  EXPECT_THAT(r[1].excluding_self, ElementsAre(0, 0, 1, 1));  // 1, 0, 10, 12
}

TEST(KnnRankedLabelsTest, CosineRanksByDirectionWithSharedOrSeparateQueries) {
  // Class 0 along (1, 0), class 1 along (0, 1), various lengths.
  const std::vector<float> x = {1, 0.1f, 9, 0.5f, 0.1f, 1, 0.3f, 7};
  const std::vector<int32_t> y = {0, 0, 1, 1};
  const std::vector<uint32_t> self = {0, 1, 2, 3};
  KnnRankOptions o;
  o.k = 2;
  o.self_rows = self;
  ASSERT_OK_AND_ASSIGN(std::vector<RankedLabels> shared,
                       KnnRankedLabels(index::Metric::kCosine, x, y, x, 2, o));
  const std::vector<float> copy = x;  // other memory: normalised separately
  ASSERT_OK_AND_ASSIGN(std::vector<RankedLabels> separate,
                       KnnRankedLabels(index::Metric::kCosine, x, y, copy, 2, o));
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_THAT(shared[i].excluding_self, ElementsAre(y[i])) << i;
    EXPECT_EQ(separate[i].excluding_self, shared[i].excluding_self) << i;
    EXPECT_EQ(separate[i].including_self, shared[i].including_self) << i;
  }
}

TEST(KnnRankedLabelsTest, RefusesBadShapes) {
  KnnRankOptions o;
  o.k = 1;
  EXPECT_THAT(KnnRankedLabels(index::Metric::kL2, kX, kY, kX, 0, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dim 0")));
  const std::vector<float> odd = {1, 2, 3};
  EXPECT_THAT(KnnRankedLabels(index::Metric::kL2, kX, kY, odd, 2, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("3 query floats")));
  const std::vector<uint32_t> two = {0, 1};
  o.self_rows = two;
  EXPECT_THAT(KnnRankedLabels(index::Metric::kL2, kX, kY, kX, 1, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 self rows for 4")));
  const std::vector<uint32_t> outside = {0, 1, 2, 4};
  o.self_rows = outside;
  EXPECT_THAT(KnnRankedLabels(index::Metric::kL2, kX, kY, kX, 1, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("self row 4")));
  o.self_rows = {};
  o.k = 0;
  EXPECT_THAT(KnnRankedLabels(index::Metric::kL2, kX, kY, kX, 1, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("k 0")));
}

}  // namespace
}  // namespace latentsearch::eval

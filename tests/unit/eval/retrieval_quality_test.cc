// The retrieval-quality measures (common/eval/retrieval_quality.h,
// knn_precision.h) on cases computed by hand.
#include "common/eval/retrieval_quality.h"

#include <string>
#include <vector>

#include "common/eval/knn_precision.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::eval {
namespace {

TEST(RetrievalQualityTest, PrecisionAtK) {
  const std::vector<int32_t> ranked = {1, 0, 1, 1, 2};
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 1), 1.0);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 2), 0.5);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 4), 0.75);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 5), 0.6);
  // Fewer neighbours than k still divide by k.
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 10), 0.3);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 7, 5), 0.0);
  EXPECT_DOUBLE_EQ(PrecisionAtK(ranked, 1, 0), 0.0);
}

TEST(RetrievalQualityTest, AveragePrecision) {
  // Relevant at ranks 1, 3, 4 of 5; R = 3:
  // AP = (1/1 + 2/3 + 3/4) / 3 = 0.80555...
  const std::vector<int32_t> ranked = {1, 0, 1, 1, 2};
  EXPECT_NEAR(AveragePrecision(ranked, 1, 100, 3), (1.0 + 2.0 / 3 + 3.0 / 4) / 3, 1e-12);
  // Five relevant items in the collection, three found: divide by min(R, depth) = 5.
  EXPECT_NEAR(AveragePrecision(ranked, 1, 100, 5), (1.0 + 2.0 / 3 + 3.0 / 4) / 5, 1e-12);
  // Depth 2 cuts the list: (1/1) / min(3, 2).
  EXPECT_NEAR(AveragePrecision(ranked, 1, 2, 3), 0.5, 1e-12);
  // Perfect ranking.
  EXPECT_DOUBLE_EQ(AveragePrecision(std::vector<int32_t>{4, 4, 4}, 4, 100, 3), 1.0);
  // Nothing relevant in the collection.
  EXPECT_DOUBLE_EQ(AveragePrecision(ranked, 9, 100, 0), 0.0);
  // A relevant item found only at rank 2: 1/2.
  EXPECT_DOUBLE_EQ(AveragePrecision(std::vector<int32_t>{0, 3}, 3, 100, 1), 0.5);
}

TEST(RetrievalQualityTest, RecallAtK) {
  const std::vector<std::string> exact = {"a", "b", "c", "d"};
  EXPECT_DOUBLE_EQ(RecallAtK(std::vector<std::string>{"a", "b", "c", "d"}, exact, 4), 1.0);
  // Two of the exact four, in any order.
  EXPECT_DOUBLE_EQ(RecallAtK(std::vector<std::string>{"d", "x", "a", "y"}, exact, 4), 0.5);
  // Fewer answers than k still divide by k.
  EXPECT_DOUBLE_EQ(RecallAtK(std::vector<std::string>{"b"}, exact, 4), 0.25);
  EXPECT_DOUBLE_EQ(RecallAtK(std::vector<std::string>{"b"}, exact, 0), 0.0);
  // Mean over queries: (1 + 0) / 2.
  EXPECT_DOUBLE_EQ(MeanRecallAtK({{"a"}, {"x"}}, {{"a"}, {"b"}}, 1), 0.5);
  EXPECT_DOUBLE_EQ(MeanRecallAtK({}, {}, 1), 0.0);
}

TEST(RetrievalQualityTest, AccumulatorAveragesOverQueries) {
  QualityAccumulator acc;
  EXPECT_EQ(acc.precision(), 0.0);
  // Query 1 (class 1, R = 2): ranked {1, 0}, with self {1, 1}: P@2 1/2,
  // incl. self 1, AP@2 = (1/1) / 2 = 1/2.
  acc.Add(std::vector<int32_t>{1, 0}, std::vector<int32_t>{1, 1}, 1, 2, 2, 2);
  // Query 2 (class 0, R = 1): ranked {1, 0}, with self {0, 1}: P@2 1/2,
  // incl. self 1/2, AP@2 = (1/2) / 1 = 1/2.
  acc.Add(std::vector<int32_t>{1, 0}, std::vector<int32_t>{0, 1}, 0, 2, 2, 1);
  EXPECT_EQ(acc.queries, 2);
  EXPECT_DOUBLE_EQ(acc.precision(), 0.5);
  EXPECT_DOUBLE_EQ(acc.precision_including_self(), 0.75);
  EXPECT_DOUBLE_EQ(acc.mean_average_precision(), 0.5);
}

// Four points on a line: 0, 1 (class 0) and 10, 12 (class 1).
TEST(KnnPrecisionTest, CountsSameLabelNeighboursExcludingTheQuery) {
  const std::vector<float> x = {0, 1, 10, 12};
  const std::vector<int32_t> y = {0, 0, 1, 1};
  KnnPrecisionOptions o;
  o.k = 1;
  o.threads = 1;
  // Each point's nearest other point shares its class.
  ASSERT_OK_AND_ASSIGN(double p, KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 1, true, o));
  EXPECT_DOUBLE_EQ(p, 1.0);
  // k = 2: 0 -> {1, 10}: 1/2; 1 -> {0, 10}: 1/2; 10 -> {12, 1}: 1/2;
  // 12 -> {10, 1}: 1/2.
  o.k = 2;
  ASSERT_OK_AND_ASSIGN(p, KnnPrecisionAtK(index::Metric::kL1, x, y, x, y, 1, true, o));
  EXPECT_DOUBLE_EQ(p, 0.5);
  // Separate queries 2 (class 0: nearest 1, 0 -> 1) and 11 (class 0:
  // nearest 10, 12 -> 0).
  const std::vector<float> q = {2, 11};
  const std::vector<int32_t> qy = {0, 0};
  ASSERT_OK_AND_ASSIGN(p, KnnPrecisionAtK(index::Metric::kL2, x, y, q, qy, 1, false, o));
  EXPECT_DOUBLE_EQ(p, 0.5);
  // Too few candidates: 3 others for k = 4.
  o.k = 4;
  EXPECT_THAT(KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 1, true, o).status(),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

// Six points on a line: class 0 at 0, 1, 2; class 1 at 10, 11, 12.5.
TEST(KnnPrecisionTest, AFractionOfTheNeighboursAndTooLargeAK) {
  const std::vector<float> x = {0, 1, 2, 10, 11, 12.5f};
  const std::vector<int32_t> y = {0, 0, 0, 1, 1, 1};
  KnnPrecisionOptions o;
  // k = 3: the third neighbour is always of the other class: 2/3.
  o.k = 3;
  ASSERT_OK_AND_ASSIGN(double p, KnnPrecisionAtK(index::Metric::kL1, x, y, x, y, 1, true, o));
  EXPECT_NEAR(p, 2.0 / 3.0, 1e-12);
  // 5 others for k = 6: the message names k.
  o.k = 6;
  EXPECT_THAT(KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 1, true, o).status(),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                                ::testing::HasSubstr("k = 6")));
}

TEST(KnnPrecisionTest, CosineIgnoresLength) {
  // Directions: class 0 along (1, 0), class 1 along (0, 1), various lengths.
  const std::vector<float> x = {1, 0.1f, 9, 0.5f, 0.1f, 1, 0.3f, 7};
  const std::vector<int32_t> y = {0, 0, 1, 1};
  KnnPrecisionOptions o;
  o.k = 1;
  ASSERT_OK_AND_ASSIGN(double p, KnnPrecisionAtK(index::Metric::kCosine, x, y, x, y, 2, true, o));
  EXPECT_DOUBLE_EQ(p, 1.0);
  // L2 is fooled by length: (1, .1)'s nearest is (.1, 1), not (9, .5).
  ASSERT_OK_AND_ASSIGN(p, KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 2, true, o));
  EXPECT_LT(p, 1.0);
}

}  // namespace
}  // namespace latentsearch::eval

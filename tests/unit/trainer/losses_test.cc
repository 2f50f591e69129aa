// NT-Xent on small cases computed by hand, and k-NN precision@k.
#include "services/trainer/losses.h"

#include <cmath>
#include <vector>

#include "common/eval/knn_precision.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;

torch::Tensor Rows(std::vector<std::vector<float>> rows) {
  const int64_t n = rows.size(), d = rows[0].size();
  torch::Tensor t = torch::empty({n, d});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) t[i][j] = rows[i][j];
  }
  return t;
}

TEST(NtXentTest, TwoOrthogonalPairsComputedByHand) {
  // z1 = z2 = {e1, e2}. Row e1 (of z1): positive e1 (s = 1), negatives e2
  // (0) and e2 (0): loss = −log(e^(1/τ) / (e^(1/τ) + 2)), the same for all
  // four rows. τ = 1: log(1 + 2/e) = 0.551445; τ = 0.5: log(1 + 2/e²).
  torch::Tensor z = Rows({{1, 0}, {0, 1}});
  EXPECT_NEAR(NtXentLoss(z, z, 1.0).item<double>(), std::log(1 + 2 / std::exp(1.0)), 1e-6);
  EXPECT_NEAR(NtXentLoss(z, z, 0.5).item<double>(), std::log(1 + 2 / std::exp(2.0)), 1e-6);
  // Scale does not matter (rows are normalised).
  EXPECT_NEAR(NtXentLoss(3 * z, 0.5 * z, 1.0).item<double>(), std::log(1 + 2 / std::exp(1.0)),
              1e-6);
}

TEST(NtXentTest, SwappedPartnersComputedByHand) {
  // z1 = {e1, e2}, z2 = {e2, e1}: each row's positive is orthogonal (s = 0)
  // and one negative equals it (s = 1), the other is orthogonal:
  // loss = −log(1 / (1 + e + 1)) = log(2 + e) at τ = 1.
  torch::Tensor z1 = Rows({{1, 0}, {0, 1}});
  torch::Tensor z2 = Rows({{0, 1}, {1, 0}});
  EXPECT_NEAR(NtXentLoss(z1, z2, 1.0).item<double>(), std::log(2 + std::exp(1.0)), 1e-6);
}

TEST(NtXentTest, OnePairHasOnlyItsPositive) {
  // N = 1: the only other row is the positive: loss = −log 1 = 0.
  torch::Tensor a = Rows({{1, 2, 3}});
  torch::Tensor b = Rows({{-1, 0, 5}});
  EXPECT_NEAR(NtXentLoss(a, b, 0.2).item<double>(), 0.0, 1e-6);
}

TEST(NtXentTest, GradientPullsPositivesTogether) {
  torch::Tensor z1 = Rows({{1, 0.2f}, {0.1f, 1}, {-1, 0.3f}}).requires_grad_(true);
  torch::Tensor z2 = Rows({{0.8f, 0.5f}, {0.4f, 0.9f}, {-0.7f, -0.6f}});
  torch::Tensor loss = NtXentLoss(z1, z2, 0.5);
  loss.backward();
  // A small step against the gradient lowers the loss.
  torch::Tensor moved = (z1 - 0.1 * z1.grad()).detach();
  EXPECT_LT(NtXentLoss(moved, z2, 0.5).item<double>(), loss.item<double>());
}

TEST(PrecisionAtKTest, CountsSameLabelNeighboursExcludingTheQuery) {
  // 1-D points: class 0 at 0, 1, 2; class 1 at 10, 11, 12.5.
  const std::vector<float> x = {0, 1, 2, 10, 11, 12.5f};
  const std::vector<int32_t> y = {0, 0, 0, 1, 1, 1};
  eval::KnnPrecisionOptions o;
  o.k = 2;
  // Every point's 2 nearest others are its own class.
  ASSERT_OK_AND_ASSIGN(double p, eval::KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 1, true, o));
  EXPECT_DOUBLE_EQ(p, 1.0);
  // k = 3: the third neighbour is always of the other class: 2/3.
  o.k = 3;
  ASSERT_OK_AND_ASSIGN(p, eval::KnnPrecisionAtK(index::Metric::kL1, x, y, x, y, 1, true, o));
  EXPECT_NEAR(p, 2.0 / 3.0, 1e-12);
  // Separate queries (not excluded): query 0.4 (class 1) sees 0, 1 → 0.
  o.k = 2;
  const std::vector<float> q = {0.4f, 11.6f};
  const std::vector<int32_t> qy = {1, 1};
  ASSERT_OK_AND_ASSIGN(p, eval::KnnPrecisionAtK(index::Metric::kL2, x, y, q, qy, 1, false, o));
  EXPECT_DOUBLE_EQ(p, 0.5);
  o.k = 6;
  EXPECT_THAT(eval::KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 1, true, o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("k = 6")));
}

TEST(PrecisionAtKTest, CosineIgnoresLength) {
  // Directions: class 0 along (1, 0), class 1 along (0, 1), various lengths.
  const std::vector<float> x = {1, 0.1f, 9, 0.5f, 0.1f, 1, 0.3f, 7};
  const std::vector<int32_t> y = {0, 0, 1, 1};
  eval::KnnPrecisionOptions o;
  o.k = 1;
  ASSERT_OK_AND_ASSIGN(double p,
                       eval::KnnPrecisionAtK(index::Metric::kCosine, x, y, x, y, 2, true, o));
  EXPECT_DOUBLE_EQ(p, 1.0);
  // L2 is fooled by length: (1, .1)'s nearest is (.1, 1), not (9, .5).
  ASSERT_OK_AND_ASSIGN(p, eval::KnnPrecisionAtK(index::Metric::kL2, x, y, x, y, 2, true, o));
  EXPECT_LT(p, 1.0);
}

}  // namespace
}  // namespace latentsearch::trainer

// NT-Xent on small cases computed by hand (k-NN precision@k, which the
// trainer reports, is tested in tests/unit/eval).
#include "services/trainer/losses.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

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

}  // namespace
}  // namespace latentsearch::trainer

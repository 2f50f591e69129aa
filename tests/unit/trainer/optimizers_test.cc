// Adamax is Keras' (eps outside the max, weight decay as an L2 term), on
// both its fused float32 CPU path and its tensor path, against the update
// written out in double precision.
#include "services/trainer/optimizers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

// Keras' Adamax over `steps` gradients for one parameter vector.
std::vector<double> KerasAdamax(std::vector<double> p, const std::vector<std::vector<double>>& g,
                                double lr, double wd) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
  std::vector<double> m(p.size(), 0), u(p.size(), 0);
  for (size_t t = 1; t <= g.size(); ++t) {
    const double lr_t = lr / (1 - std::pow(b1, static_cast<double>(t)));
    for (size_t j = 0; j < p.size(); ++j) {
      const double gj = g[t - 1][j] + wd * p[j];
      m[j] = b1 * m[j] + (1 - b1) * gj;
      u[j] = std::max(b2 * u[j], std::abs(gj));
      p[j] -= lr_t * m[j] / (u[j] + eps);
    }
  }
  return p;
}

// Runs Adamax on `dtype` tensors (float32 contiguous = the fused path).
std::vector<double> TorchAdamax(const std::vector<double>& p0,
                                const std::vector<std::vector<double>>& g, double lr, double wd,
                                torch::Dtype dtype) {
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  torch::Tensor p = torch::tensor(p0, opts).to(dtype).set_requires_grad(true);
  std::unique_ptr<Optimizer> opt = MakeOptimizer(OptimizerKind::kAdamax, {p}, lr, wd);
  for (const std::vector<double>& step : g) {
    opt->ZeroGrad();
    p.mutable_grad() = torch::tensor(step, opts).to(dtype);
    opt->Step();
  }
  torch::Tensor out = p.detach().to(torch::kDouble).contiguous();
  return std::vector<double>(out.data_ptr<double>(), out.data_ptr<double>() + out.numel());
}

TEST(AdamaxTest, MatchesKerasOnTheFusedAndTheTensorPath) {
  const std::vector<double> p0 = {0.5, -1.25, 2.0, 0.0, 3e-3};
  const std::vector<std::vector<double>> g = {
      {0.1, -0.2, 0.0, 1.5, -3e-4}, {-0.3, 0.25, 0.05, -0.5, 2e-4}, {0.2, 0.0, -0.1, 0.7, 0.0}};
  const double lr = 2e-3, wd = 0.01;
  const std::vector<double> want = KerasAdamax(p0, g, lr, wd);
  const std::vector<double> fused = TorchAdamax(p0, g, lr, wd, torch::kFloat);
  const std::vector<double> tensor = TorchAdamax(p0, g, lr, wd, torch::kDouble);
  ASSERT_EQ(fused.size(), want.size());
  ASSERT_EQ(tensor.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) {
    EXPECT_NEAR(fused[j], want[j], 1e-6) << j;
    EXPECT_NEAR(tensor[j], want[j], 1e-12) << j;
  }
}

TEST(AdamaxTest, SetLearningRateTakesEffectAtTheNextStep) {
  const std::vector<double> p0 = {1.0, -1.0};
  const std::vector<std::vector<double>> g = {{0.5, -0.5}};
  torch::Tensor p = torch::tensor(p0, torch::kDouble).set_requires_grad(true);
  std::unique_ptr<Optimizer> opt = MakeOptimizer(OptimizerKind::kAdamax, {p}, 1.0, 0);
  opt->SetLearningRate(1e-2);
  p.mutable_grad() = torch::tensor(g[0], torch::kDouble);
  opt->Step();
  const std::vector<double> want = KerasAdamax(p0, g, 1e-2, 0);
  EXPECT_NEAR(p[0].item<double>(), want[0], 1e-12);
  EXPECT_NEAR(p[1].item<double>(), want[1], 1e-12);
}

}  // namespace
}  // namespace latentsearch::trainer

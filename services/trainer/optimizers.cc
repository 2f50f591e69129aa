#include "services/trainer/optimizers.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace latentsearch::trainer {
namespace {

using torch::Tensor;

// Keras' Adamax: m = b1·m + (1−b1)·g; u = max(b2·u, |g|);
// p −= lr / (1 − b1^t) · m / (u + eps), eps = 1e-7. (PyTorch's variant puts
// eps inside the max.) Weight decay as an L2 term added to g.
class Adamax final : public Optimizer {
 public:
  Adamax(std::vector<Tensor> params, double lr, double weight_decay)
      : params_(std::move(params)), lr_(lr), wd_(weight_decay) {
    for (const Tensor& p : params_) {
      m_.push_back(torch::zeros_like(p));
      u_.push_back(torch::zeros_like(p));
    }
  }
  void ZeroGrad() override {
    for (Tensor& p : params_) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
  }
  void SetLearningRate(double lr) override { lr_ = lr; }
  void Save(torch::serialize::OutputArchive& a) override {
    a.write("t", torch::tensor(t_, torch::kInt64));
    for (size_t i = 0; i < params_.size(); ++i) {
      a.write(absl::StrCat("m.", i), m_[i]);
      a.write(absl::StrCat("u.", i), u_[i]);
    }
  }
  absl::Status Load(torch::serialize::InputArchive& a) override {
    try {
      Tensor t;
      a.read("t", t);
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params_.size(); ++i) {
        Tensor m, u;
        a.read(absl::StrCat("m.", i), m);
        a.read(absl::StrCat("u.", i), u);
        m_[i].copy_(m);
        u_[i].copy_(u);
      }
      t_ = t.item<int64_t>();
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("Adamax state does not load: ", e.what()));
    }
    return absl::OkStatus();
  }
  void Step() override {
    torch::NoGradGuard no_grad;
    ++t_;
    const double lr_t = lr_ / (1.0 - std::pow(kB1, static_cast<double>(t_)));
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor& p = params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (p.is_cpu() && p.scalar_type() == torch::kFloat && p.is_contiguous() &&
          g.is_contiguous() && g.scalar_type() == torch::kFloat) {
        FusedStep(p.data_ptr<float>(), g.data_ptr<float>(), m_[i].data_ptr<float>(),
                  u_[i].data_ptr<float>(), p.numel(), static_cast<float>(lr_t));
        continue;
      }
      if (wd_ != 0) g = g + wd_ * p;
      m_[i].mul_(kB1).add_(g, 1.0 - kB1);
      u_[i].mul_(kB2);
      torch::maximum_out(u_[i], u_[i], g.abs());
      p.addcdiv_(m_[i], u_[i] + kEps, -lr_t);
    }
  }

 private:
  // One pass over p, g, m, u instead of ~8 tensor operations (which cost
  // more than the arithmetic for small tensors).
  void FusedStep(float* p, const float* g, float* m, float* u, int64_t n, float lr_t) const {
    const float b1 = kB1, b2 = kB2, eps = kEps, wd = static_cast<float>(wd_);
    at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        const float gj = g[j] + wd * p[j];
        const float mj = b1 * m[j] + (1.0f - b1) * gj;
        const float uj = std::max(b2 * u[j], std::abs(gj));
        m[j] = mj;
        u[j] = uj;
        p[j] -= lr_t * mj / (uj + eps);
      }
    });
  }

  static constexpr double kB1 = 0.9, kB2 = 0.999, kEps = 1e-7;
  std::vector<Tensor> params_, m_, u_;
  double lr_, wd_;
  int64_t t_ = 0;
};

template <typename O, typename Options>
class TorchOptimizer final : public Optimizer {
 public:
  explicit TorchOptimizer(std::unique_ptr<O> o) : o_(std::move(o)) {}
  void ZeroGrad() override { o_->zero_grad(); }
  void Step() override { o_->step(); }
  void SetLearningRate(double lr) override {
    for (auto& group : o_->param_groups()) static_cast<Options&>(group.options()).lr(lr);
  }
  void Save(torch::serialize::OutputArchive& a) override { o_->save(a); }
  absl::Status Load(torch::serialize::InputArchive& a) override {
    try {
      o_->load(a);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("optimiser state does not load: ", e.what()));
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<O> o_;
};

}  // namespace

std::unique_ptr<Optimizer> MakeOptimizer(OptimizerKind kind, std::vector<Tensor> params, double lr,
                                         double weight_decay) {
  switch (kind) {
    case OptimizerKind::kAdam:
      return std::make_unique<TorchOptimizer<torch::optim::Adam, torch::optim::AdamOptions>>(
          std::make_unique<torch::optim::Adam>(
              params, torch::optim::AdamOptions(lr).weight_decay(weight_decay)));
    case OptimizerKind::kAdamW:
      return std::make_unique<TorchOptimizer<torch::optim::AdamW, torch::optim::AdamWOptions>>(
          std::make_unique<torch::optim::AdamW>(
              params, torch::optim::AdamWOptions(lr).weight_decay(weight_decay)));
    case OptimizerKind::kAdamax:
      break;
  }
  return std::make_unique<Adamax>(std::move(params), lr, weight_decay);
}

}  // namespace latentsearch::trainer

// The LibTorch half of training.h: the loop, the optimisers, evaluation.
#include "services/trainer/training.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <cmath>
#include <deque>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/model/torch_model.h"

namespace latentsearch::trainer {
namespace {

using torch::Tensor;

uint64_t Mix(uint64_t seed, uint64_t salt) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (salt + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void ZeroGrad() = 0;
  virtual void Step() = 0;
};

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

template <typename O>
class TorchOptimizer final : public Optimizer {
 public:
  explicit TorchOptimizer(std::unique_ptr<O> o) : o_(std::move(o)) {}
  void ZeroGrad() override { o_->zero_grad(); }
  void Step() override { o_->step(); }

 private:
  std::unique_ptr<O> o_;
};

std::unique_ptr<Optimizer> MakeOptimizer(const TrainConfig& c,
                                         std::vector<Tensor> params) {
  switch (c.optimizer) {
    case OptimizerKind::kAdam:
      return std::make_unique<TorchOptimizer<torch::optim::Adam>>(
          std::make_unique<torch::optim::Adam>(
              params,
              torch::optim::AdamOptions(c.learning_rate).weight_decay(c.weight_decay)));
    case OptimizerKind::kAdamW:
      return std::make_unique<TorchOptimizer<torch::optim::AdamW>>(
          std::make_unique<torch::optim::AdamW>(
              params,
              torch::optim::AdamWOptions(c.learning_rate).weight_decay(c.weight_decay)));
    case OptimizerKind::kAdamax:
      break;
  }
  return std::make_unique<Adamax>(std::move(params), c.learning_rate, c.weight_decay);
}

// bf16 autocast for the forward pass (the backward runs outside, as in
// PyTorch's recipe). Clears the cast-weight cache on exit: the optimiser
// changes the weights after every step.
class AutocastScope {
 public:
  AutocastScope(bool enable, bool cuda) : enable_(enable), cuda_(cuda) {
    if (!enable_) return;
    if (cuda_) {
      prev_ = at::autocast::is_enabled();
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      prev_ = at::autocast::is_cpu_enabled();
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enable_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    if (cuda_) {
      at::autocast::set_enabled(prev_);
    } else {
      at::autocast::set_cpu_enabled(prev_);
    }
  }

 private:
  bool enable_, cuda_, prev_ = false;
};

// Fills `out` (n × C × H × W floats) with images indices[first..first+n),
// scaled to [0, 1]; flips each horizontally when `flip` says so.
absl::Status Gather(const data::Dataset& d, const std::vector<size_t>& indices,
                    size_t first, size_t n, std::vector<float>* out,
                    std::mt19937_64* flip_rng) {
  const size_t per = d.image_bytes();
  const size_t w = d.width;
  for (size_t i = 0; i < n; ++i) {
    absl::Span<float> dst(out->data() + i * per, per);
    LS_RETURN_IF_ERROR(
        data::NormalizeRange(d, indices[first + i], 1, data::Layout::kNCHW, dst));
    if (flip_rng != nullptr && ((*flip_rng)() & 1)) {
      for (size_t row = 0; row < per / w; ++row) {
        std::reverse(dst.begin() + row * w, dst.begin() + (row + 1) * w);
      }
    }
  }
  return absl::OkStatus();
}

struct Runner {
  Runner(const TrainConfig& config, const data::Dataset& dataset,
         const TrainingCallbacks& callbacks)
      : c(config),
        d(dataset),
        cb(callbacks),
        now(callbacks.now ? callbacks.now : [] { return absl::Now(); }) {}

  const TrainConfig& c;
  const data::Dataset& d;
  const TrainingCallbacks& cb;
  std::function<absl::Time()> now;

  std::unique_ptr<model::Model> model;
  model::AutoencoderImpl* net = nullptr;
  torch::Device device{torch::kCPU};
  bool bf16 = false;
  std::vector<size_t> train, val;
  std::vector<float> buf;
  TrainingResult result;

  Tensor ToTensor(size_t n) {
    Tensor x = torch::from_blob(buf.data(), {static_cast<int64_t>(n), c.model.input.channels,
                                             c.model.input.height, c.model.input.width});
    return device.is_cpu() ? x : x.to(device);
  }

  // Mean squared error per pixel over the validation images (NaN if none).
  absl::StatusOr<double> Evaluate() {
    if (val.empty()) return std::numeric_limits<double>::quiet_NaN();
    torch::NoGradGuard no_grad;
    net->eval();
    const size_t per = d.image_bytes();
    const size_t eb = static_cast<size_t>(c.eval_batch_size);
    if (buf.size() < eb * per) buf.resize(eb * per);
    double sum = 0;
    for (size_t first = 0; first < val.size(); first += eb) {
      const size_t n = std::min(eb, val.size() - first);
      LS_RETURN_IF_ERROR(Gather(d, val, first, n, &buf, nullptr));
      Tensor x = ToTensor(n);
      Tensor y;
      {
        AutocastScope autocast(bf16, !device.is_cpu());
        y = net->forward(x);
      }
      sum += torch::mse_loss(y.to(torch::kFloat), x, at::Reduction::Sum).item<double>();
    }
    net->train();
    return sum / (static_cast<double>(val.size()) * per);
  }

  absl::Status Checkpoint(uint32_t epoch, uint64_t step, double train_loss,
                          double val_loss) {
    model::CheckpointMetadata m;
    m.architecture = c.model.architecture;
    m.latent_size = c.model.latent_size;
    m.input_shape = c.model.input;
    m.dataset = c.dataset_name;
    m.epoch = epoch;
    m.step = step;
    m.train_loss = train_loss;
    m.validation_loss = val_loss;
    m.created_at = now();
    m.encoder_parameters = model->encoder_parameters();
    m.decoder_parameters = model->decoder_parameters();
    LS_ASSIGN_OR_RETURN(std::string weights, model->SerializeWeights());
    ++result.checkpoints;
    if (!cb.on_checkpoint) return absl::OkStatus();
    return cb.on_checkpoint(model::MakeCheckpoint(std::move(m), std::move(weights)));
  }

  absl::StatusOr<TrainingResult> Run() {
    model::SetThreads(c.threads, c.blas_threads);
    model::ModelOptions mo;
    mo.formulation = c.formulation;
    mo.channels_last = c.channels_last;
    mo.seed = c.seed;
    mo.use_cuda_if_available = c.use_cuda_if_available;
    LS_ASSIGN_OR_RETURN(model, model::Model::Create(c.model, mo));
    net = model->impl().net.get();
    device = model->impl().device;
    result.device = device.str();
    bf16 = c.precision == Precision::kBFloat16;
    net->train();

    const TrainingPlan plan = PlanTraining(c, d.size());
    std::vector<size_t> perm = data::SampleIndices(d.size(), d.size(), Mix(c.seed, 1));
    val.assign(perm.begin(), perm.begin() + plan.validation_images);
    train.assign(perm.begin() + plan.validation_images, perm.end());

    std::unique_ptr<Optimizer> opt = MakeOptimizer(c, net->parameters());
    const size_t per = d.image_bytes();
    const size_t batch = static_cast<size_t>(c.batch_size);
    buf.resize(batch * per);
    const absl::Time start = now();
    const absl::Duration budget = absl::Seconds(c.time_budget_seconds);
    std::deque<std::pair<absl::Time, size_t>> window;  // (time, images) per step.
    window.emplace_back(start, 0);
    uint64_t step = 0;
    double last_epoch_train = std::numeric_limits<double>::quiet_NaN();
    double last_epoch_val = std::numeric_limits<double>::quiet_NaN();
    uint64_t step_at_epoch_end = 0;
    double best = std::numeric_limits<double>::infinity();
    bool stopped = false, cut = false;

    for (uint32_t epoch = 1; epoch <= static_cast<uint32_t>(c.epochs) && !stopped && !cut;
         ++epoch) {
      const absl::Time epoch_start = now();
      std::vector<size_t> order_pos =
          data::SampleIndices(train.size(), train.size(), Mix(c.seed, 100 + epoch));
      std::vector<size_t> order(train.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = train[order_pos[i]];
      std::mt19937_64 flip_rng(Mix(c.seed, 1000000 + epoch));
      double sum = 0;
      size_t seen = 0;
      for (uint64_t b = 0; b < plan.steps_per_epoch; ++b) {
        if (cb.should_stop && cb.should_stop()) {
          stopped = true;
          break;
        }
        if ((c.max_steps > 0 && step >= c.max_steps) ||
            (c.time_budget_seconds > 0 && now() - start >= budget)) {
          cut = true;
          break;
        }
        const size_t n = std::min(batch, order.size() - b * batch);
        LS_RETURN_IF_ERROR(
            Gather(d, order, b * batch, n, &buf, c.augment ? &flip_rng : nullptr));
        Tensor x = ToTensor(n);
        opt->ZeroGrad();
        Tensor loss;
        {
          AutocastScope autocast(bf16, !device.is_cpu());
          Tensor y = net->forward(x);
          loss = torch::mse_loss(y.to(torch::kFloat), x);
        }
        loss.backward();
        opt->Step();
        const double l = loss.item<double>();
        ++step;
        if (!std::isfinite(l)) {
          return absl::AbortedError(absl::StrCat(
              "training diverged: loss is ", l, " at step ", step,
              " (try a lower learning_rate)"));
        }
        sum += l * n;
        seen += n;
        result.steps = step;
        result.last_train_loss = l;

        const absl::Time t = now();
        window.emplace_back(t, n);
        while (window.size() > 21) window.pop_front();
        if (cb.on_step) {
          StepInfo s;
          s.epoch = epoch;
          s.step = step;
          s.total_steps = plan.total_steps;
          s.loss = l;
          size_t imgs = 0;
          for (size_t i = 1; i < window.size(); ++i) imgs += window[i].second;
          const double secs = absl::ToDoubleSeconds(t - window.front().first);
          s.images_per_second = secs > 0 ? imgs / secs : 0;
          const double steps_per_sec = secs > 0 ? (window.size() - 1) / secs : 0;
          s.eta_seconds = steps_per_sec > 0
                              ? static_cast<double>(plan.total_steps - std::min(step, plan.total_steps)) /
                                    steps_per_sec
                              : 0;
          s.last_of_epoch = b + 1 == plan.steps_per_epoch;
          cb.on_step(s);
        }
      }
      if (stopped || seen == 0) break;

      // An epoch ended (completely, or cut short by max_steps / the budget).
      EpochInfo e;
      e.epoch = epoch;
      e.train_loss = sum / seen;
      LS_ASSIGN_OR_RETURN(e.validation_loss, Evaluate());
      e.seconds = absl::ToDoubleSeconds(now() - epoch_start);
      e.cut_short = cut;
      last_epoch_train = e.train_loss;
      result.epochs_completed = epoch;
      if (!std::isnan(e.validation_loss) &&
          !(e.validation_loss >= result.best_validation_loss)) {
        result.best_validation_loss = e.validation_loss;
      }
      if (cb.on_epoch) cb.on_epoch(e);
      const double metric = std::isnan(e.validation_loss) ? e.train_loss : e.validation_loss;
      const bool is_best = metric < best;
      if (is_best) best = metric;
      if (c.checkpoint_policy == CheckpointPolicy::kEveryEpoch ||
          (c.checkpoint_policy == CheckpointPolicy::kBestValidation && is_best)) {
        LS_RETURN_IF_ERROR(Checkpoint(epoch, step, e.train_loss, e.validation_loss));
      }
      last_epoch_val = e.validation_loss;
      step_at_epoch_end = step;
      if (c.max_steps > 0 && step >= c.max_steps) cut = true;
    }
    // kEnd: the final weights, when at least one epoch ended. If a stop
    // request interrupted a later epoch, the weights moved since that
    // epoch's evaluation: evaluate them again.
    if (c.checkpoint_policy == CheckpointPolicy::kEnd && result.epochs_completed >= 1) {
      double v = last_epoch_val;
      if (step != step_at_epoch_end) {
        LS_ASSIGN_OR_RETURN(v, Evaluate());
      }
      LS_RETURN_IF_ERROR(Checkpoint(result.epochs_completed, step, last_epoch_train, v));
    }
    result.stopped = stopped;
    return result;
  }
};

}  // namespace

absl::StatusOr<TrainingResult> RunTraining(const TrainConfig& config,
                                           const data::Dataset& dataset,
                                           const TrainingCallbacks& callbacks) {
  LS_RETURN_IF_ERROR(ValidateTrainConfig(config, dataset));
  Runner r(config, dataset, callbacks);
  try {
    return r.Run();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("training failed in LibTorch: ", e.what()));
  }
}

}  // namespace latentsearch::trainer

#include "services/trainer/trainer_metrics.h"

#include <vector>

namespace latentsearch::trainer {

TrainerMetrics::TrainerMetrics(rpc::MetricsRegistry* registry)
    : steps_(registry->AddCounter("latentsearch_trainer_steps_total",
                                  "Training steps (batches) run.", {"model"})),
      step_seconds_(registry->AddHistogram(
          "latentsearch_trainer_step_seconds",
          "Wall time per training step (forward, backward, optimiser; the first step of a "
          "job is not measured).",
          {"model"}, rpc::LatencyBuckets())),
      loss_(registry->AddGauge("latentsearch_trainer_loss",
                               "Training loss of the last step's batch.", {"model"})),
      images_per_second_(registry->AddGauge("latentsearch_trainer_images_per_second",
                                            "Training throughput over the last ~20 steps.",
                                            {"model"})),
      epochs_(
          registry->AddCounter("latentsearch_trainer_epochs_total", "Epochs finished.", {"model"})),
      epoch_train_loss_(registry->AddGauge("latentsearch_trainer_epoch_train_loss",
                                           "Mean training loss of the last finished epoch.",
                                           {"model"})),
      epoch_validation_loss_(registry->AddGauge(
          "latentsearch_trainer_epoch_validation_loss",
          "Validation loss after the last finished epoch (NaN without a validation split).",
          {"model"})),
      precision_(registry->AddGauge("latentsearch_trainer_precision",
                                    "1 for the precision the model's last job trains in "
                                    "(fp32 or bf16), 0 for the other.",
                                    {"model", "precision"})),
      precision_trial_seconds_(registry->AddGauge(
          "latentsearch_trainer_precision_trial_seconds",
          "Wall seconds per step of the last --precision=auto trial, per precision.",
          {"model", "precision"})) {}

void TrainerMetrics::OnStep(const std::string& model_name, const StepInfo& step) {
  const auto now = std::chrono::steady_clock::now();
  const std::vector<std::string> labels = {model_name};
  steps_->Get(labels)->Increment();
  loss_->Get(labels)->Set(step.loss);
  images_per_second_->Get(labels)->Set(step.images_per_second);
  std::lock_guard<std::mutex> l(mu_);
  LastStep& last = last_[model_name];
  if (step.step == last.step + 1 && last.step > 0) {
    const std::chrono::duration<double> took = now - last.at;
    step_seconds_->Get(labels)->Observe(took.count());
  }
  last.step = step.step;
  last.at = now;
}

void TrainerMetrics::OnEpoch(const std::string& model_name, const EpochInfo& epoch) {
  const std::vector<std::string> labels = {model_name};
  epochs_->Get(labels)->Increment();
  epoch_train_loss_->Get(labels)->Set(epoch.train_loss);
  epoch_validation_loss_->Get(labels)->Set(epoch.validation_loss);
}

void TrainerMetrics::OnPrecision(const std::string& model_name,
                                 const model::PrecisionChoice& choice) {
  const bool bf16 = choice.chosen == model::Precision::kBFloat16;
  precision_->Get({model_name, "fp32"})->Set(bf16 ? 0 : 1);
  precision_->Get({model_name, "bf16"})->Set(bf16 ? 1 : 0);
  if (!choice.measured) return;
  precision_trial_seconds_->Get({model_name, "fp32"})->Set(choice.fp32_seconds);
  precision_trial_seconds_->Get({model_name, "bf16"})->Set(choice.bf16_seconds);
}

}  // namespace latentsearch::trainer

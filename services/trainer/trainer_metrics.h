// The trainer's own /metrics families, fed by TrainerOptions::on_step and
// on_epoch (label model = the job's model name):
//
//   latentsearch_trainer_steps_total{model}
//   latentsearch_trainer_step_seconds{model}        histogram: wall time from one
//                                                   step's end to the next one's
//   latentsearch_trainer_loss{model}                the last step's batch loss
//   latentsearch_trainer_images_per_second{model}   over the last ~20 steps
//   latentsearch_trainer_epochs_total{model}
//   latentsearch_trainer_epoch_train_loss{model}
//   latentsearch_trainer_epoch_validation_loss{model}   NaN without a validation split
//   latentsearch_trainer_precision{model,precision}  1 for the precision the model's
//                                                   last job trains in (fp32 | bf16), else 0
//   latentsearch_trainer_precision_trial_seconds{model,precision}   seconds per trial
//                                                   step of that job's --precision=auto trial
//
// Requests per RPC and status come from the common server interceptor.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_TRAINER_METRICS_H_
#define LATENTSEARCH_SERVICES_TRAINER_TRAINER_METRICS_H_

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/rpc/metrics.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer {

class TrainerMetrics {
 public:
  // `registry` is not owned and must outlive this object.
  explicit TrainerMetrics(rpc::MetricsRegistry* registry);

  void OnStep(const std::string& model_name, const StepInfo& step);
  void OnEpoch(const std::string& model_name, const EpochInfo& epoch);
  void OnPrecision(const std::string& model_name, const model::PrecisionChoice& choice);

 private:
  struct LastStep {
    uint64_t step = 0;
    std::chrono::steady_clock::time_point at;
  };
  rpc::CounterFamily* const steps_;
  rpc::HistogramFamily* const step_seconds_;
  rpc::GaugeFamily* const loss_;
  rpc::GaugeFamily* const images_per_second_;
  rpc::CounterFamily* const epochs_;
  rpc::GaugeFamily* const epoch_train_loss_;
  rpc::GaugeFamily* const epoch_validation_loss_;
  rpc::GaugeFamily* const precision_;
  rpc::GaugeFamily* const precision_trial_seconds_;
  std::mutex mu_;
  std::map<std::string, LastStep> last_;  // Guarded by mu_.
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_TRAINER_METRICS_H_

// TrainConfig.precision = kAuto (#13): a fake timing source makes either
// precision the faster; the trial steps do not count as training (a run
// that chose fp32 is bit-identical to one pinned to fp32, and one that
// chose bf16 to one pinned to bf16); the training guard refuses a bf16
// whose loss was perturbed beyond model::kTrainLossTolerance; the choice
// reaches on_precision and TrainingResult.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/model/precision.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/trainer/training.h"
#include "tests/unit/trainer/test_data.h"

namespace latentsearch::trainer {
namespace {

using ::testing::HasSubstr;

data::Dataset Discs(size_t n) {
  return ::latentsearch::trainer::testing::DiscsDataset(n, /*seed=*/3, 200, 30);
}

TrainConfig Small(Precision precision) {
  TrainConfig c;
  c.model = {"conv", 8, {16, 16, 1}};
  c.epochs = 1;
  c.batch_size = 16;
  c.threads = 1;
  c.seed = 7;
  c.use_cuda_if_available = false;
  c.precision = precision;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  return c;
}

// Runs `run` and answers `fp32` or `bf16` seconds, counting the calls.
struct FakeTimer {
  double fp32 = 1, bf16 = 1;
  int calls = 0;
  model::PrecisionTimer Get() {
    return [this](Precision p, const std::function<absl::Status()>& run) -> absl::StatusOr<double> {
      ++calls;
      absl::Status s = run();
      if (!s.ok()) return s;
      return p == Precision::kBFloat16 ? bf16 : fp32;
    };
  }
};

struct Outcome {
  std::vector<double> losses;
  std::vector<model::PrecisionChoice> choices;
  std::string weights;
  TrainingResult result;
};

Outcome Train(const TrainConfig& config, FakeTimer* timer = nullptr,
              std::function<double(Precision, int, double)> perturb = nullptr) {
  Outcome out;
  TrainingCallbacks cb;
  cb.on_step = [&out](const StepInfo& s) { out.losses.push_back(s.loss); };
  cb.on_precision = [&out](const model::PrecisionChoice& c) { out.choices.push_back(c); };
  cb.on_checkpoint = [&out](model::Checkpoint c) {
    out.weights = c.weights;
    return absl::OkStatus();
  };
  if (timer != nullptr) cb.precision_timer = timer->Get();
  cb.perturb_trial_loss = std::move(perturb);
  absl::StatusOr<TrainingResult> r = RunTraining(config, Discs(64), cb);
  EXPECT_OK(r.status());
  if (r.ok()) out.result = *r;
  return out;
}

TEST(PrecisionTrialTest, FakeTimerFavouringFp32PicksFp32AndTheTrialIsNotTraining) {
  FakeTimer timer{/*fp32=*/1.0, /*bf16=*/2.0};
  const Outcome autorun = Train(Small(Precision::kAuto), &timer);
  EXPECT_EQ(timer.calls, 2);  // One timed trial per precision.
  ASSERT_EQ(autorun.choices.size(), 1u);
  const model::PrecisionChoice& c = autorun.choices[0];
  EXPECT_EQ(c.requested, Precision::kAuto);
  EXPECT_EQ(c.chosen, Precision::kFloat32);
  EXPECT_TRUE(c.measured);
  EXPECT_DOUBLE_EQ(c.fp32_seconds, 1.0 / 3);  // 3 timed steps per trial.
  EXPECT_DOUBLE_EQ(c.bf16_seconds, 2.0 / 3);
  EXPECT_EQ(c.trial_units, 3);
  EXPECT_EQ(c.trial_batch, 16);
  EXPECT_TRUE(c.bf16_safe);  // Real bf16 on this model: within the bound.
  EXPECT_LE(c.loss_difference, model::kTrainLossTolerance);
  EXPECT_THAT(c.reason, HasSubstr("fp32 kept"));
  EXPECT_EQ(autorun.result.precision.chosen, Precision::kFloat32);

  // The trial's steps were discarded: bit-identical to a run pinned to fp32.
  const Outcome pinned = Train(Small(Precision::kFloat32));
  ASSERT_EQ(pinned.choices.size(), 1u);
  EXPECT_FALSE(pinned.choices[0].measured);
  EXPECT_EQ(pinned.choices[0].chosen, Precision::kFloat32);
  EXPECT_EQ(autorun.losses, pinned.losses);
  EXPECT_FALSE(pinned.weights.empty());
  EXPECT_TRUE(autorun.weights == pinned.weights);
}

TEST(PrecisionTrialTest, FakeTimerFavouringBf16PicksBf16AndTrainsAsPinnedBf16) {
  FakeTimer timer{/*fp32=*/3.0, /*bf16=*/1.0};
  const Outcome autorun = Train(Small(Precision::kAuto), &timer);
  ASSERT_EQ(autorun.choices.size(), 1u);
  const model::PrecisionChoice& c = autorun.choices[0];
  EXPECT_EQ(c.chosen, Precision::kBFloat16);
  EXPECT_TRUE(c.bf16_safe);
  EXPECT_GT(c.loss_difference, 0);  // bf16 really ran: the losses differ a little.
  EXPECT_THAT(c.reason, HasSubstr("bf16 chosen"));
  const Outcome pinned = Train(Small(Precision::kBFloat16));
  EXPECT_EQ(pinned.choices[0].chosen, Precision::kBFloat16);
  EXPECT_EQ(autorun.losses, pinned.losses);
  EXPECT_TRUE(autorun.weights == pinned.weights);
  // And bf16 trained differently from fp32.
  EXPECT_NE(autorun.losses, Train(Small(Precision::kFloat32)).losses);
}

TEST(PrecisionTrialTest, TrainingGuardRefusesABf16ThatChangesTheLossTooMuch) {
  FakeTimer timer{/*fp32=*/3.0, /*bf16=*/1.0};
  // bf16's third trial step measures 5 % high: beyond the 2 % bound.
  auto perturb = [](Precision p, int step, double loss) {
    return p == Precision::kBFloat16 && step == 2 ? loss * 1.05 : loss;
  };
  const Outcome r = Train(Small(Precision::kAuto), &timer, perturb);
  ASSERT_EQ(r.choices.size(), 1u);
  const model::PrecisionChoice& c = r.choices[0];
  EXPECT_EQ(c.chosen, Precision::kFloat32);
  EXPECT_FALSE(c.bf16_safe);
  EXPECT_GT(c.loss_difference, 0.04);
  EXPECT_LT(c.loss_difference, 0.06);
  EXPECT_THAT(c.reason, HasSubstr("refused"));
  // A perturbation within the bound is accepted.
  auto slight = [](Precision p, int step, double loss) {
    return p == Precision::kBFloat16 && step == 2 ? loss * 1.001 : loss;
  };
  EXPECT_EQ(Train(Small(Precision::kAuto), &timer, slight).choices[0].chosen, Precision::kBFloat16);
}

TEST(PrecisionTrialTest, Bf16WithinTimingNoiseOfFp32KeepsFp32) {
  FakeTimer timer{/*fp32=*/1.0, /*bf16=*/0.97};  // Only 3 % faster.
  const Outcome r = Train(Small(Precision::kAuto), &timer);
  EXPECT_EQ(r.choices[0].chosen, Precision::kFloat32);
  EXPECT_TRUE(r.choices[0].bf16_safe);
}

TEST(PrecisionTrialTest, RefusesTrialStepsOutOfRange) {
  TrainConfig c = Small(Precision::kAuto);
  c.precision_trial_steps = 0;
  EXPECT_THAT(ValidateTrainConfig(c, Discs(8)),
              latentsearch::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("precision_trial_steps")));
}

}  // namespace
}  // namespace latentsearch::trainer

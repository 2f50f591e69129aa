// Training snapshots (TrainingCallbacks.on_snapshot) and RunTraining's
// resume: a run continued from any snapshot ends bit-identical to the run
// that was never interrupted (weights, optimiser state, step, data order
// and the flip / corruption random streams restored), and a snapshot that
// does not load is DATA_LOSS.
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/model/checkpoint.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/trainer/training.h"
#include "tests/unit/trainer/test_data.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;

data::Dataset Discs(size_t n) {
  return ::latentsearch::trainer::testing::DiscsDataset(n, /*seed=*/5);
}

struct Run {
  std::map<uint64_t, std::string> snapshots;  // By step.
  std::vector<double> validation;             // Per epoch ended.
  std::string final_weights;
  uint64_t steps = 0;
};

Run Train(const TrainConfig& c, const data::Dataset& d, const std::string& resume) {
  Run run;
  TrainingCallbacks cb;
  cb.on_snapshot = [&run](uint64_t step, std::string bytes) {
    run.snapshots[step] = std::move(bytes);
    return absl::OkStatus();
  };
  cb.on_epoch = [&run](const EpochInfo& e) { run.validation.push_back(e.validation_loss); };
  cb.on_checkpoint = [&run](model::Checkpoint ckpt) {
    run.final_weights = ckpt.weights;
    return absl::OkStatus();
  };
  absl::StatusOr<TrainingResult> r = RunTraining(c, d, cb, resume);
  EXPECT_OK(r.status());
  if (r.ok()) run.steps = r->steps;
  return run;
}

TrainConfig Config(OptimizerKind optimizer, Objective objective) {
  TrainConfig c;
  c.model = {"conv", 8, {16, 16, 1}};
  c.epochs = 3;
  c.batch_size = 16;  // 90 training images: 6 steps per epoch.
  c.threads = 1;
  c.seed = 9;
  c.use_cuda_if_available = false;
  c.optimizer = optimizer;
  c.objective = objective;
  c.augment = true;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  c.snapshot_every_steps = 4;
  return c;
}

void ExpectResumesExactly(const TrainConfig& c) {
  const data::Dataset d = Discs(100);
  const Run full = Train(c, d, "");
  ASSERT_EQ(full.steps, 18u);
  // Mid-epoch (4, 8, 16) and epoch-end (6, 12, 18) snapshots.
  for (uint64_t s : {4, 6, 8, 12, 16}) ASSERT_TRUE(full.snapshots.count(s)) << s;
  for (uint64_t s : {4, 8, 12, 16}) {
    SCOPED_TRACE(s);
    const Run resumed = Train(c, d, full.snapshots.at(s));
    EXPECT_EQ(resumed.steps, 18u);
    EXPECT_EQ(resumed.final_weights, full.final_weights);
    ASSERT_FALSE(resumed.validation.empty());
    EXPECT_EQ(resumed.validation.back(), full.validation.back());
  }
}

TEST(TrainingResumeTest, AdamaxReconstructionWithFlipsResumesBitIdentical) {
  ExpectResumesExactly(Config(OptimizerKind::kAdamax, Objective::kReconstruction));
}

TEST(TrainingResumeTest, AdamWDenoisingResumesBitIdentical) {
  ExpectResumesExactly(Config(OptimizerKind::kAdamW, Objective::kDenoising));
}

TEST(TrainingResumeTest, CorruptSnapshotIsDataLoss) {
  TrainConfig c = Config(OptimizerKind::kAdamax, Objective::kReconstruction);
  EXPECT_THAT(RunTraining(c, Discs(100), TrainingCallbacks(), "not a snapshot").status(),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
}

}  // namespace
}  // namespace latentsearch::trainer

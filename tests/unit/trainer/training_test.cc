// The training loop on small synthetic data: validation, determinism,
// stopping, checkpoint policies, budgets and augmentation.
#include "services/trainer/training.h"

#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/model/checkpoint.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

// n images of h × w × c: smooth random blobs, so a model can learn them.
data::Dataset Blobs(size_t n, int h = 16, int w = 16, int c = 1, uint64_t seed = 1) {
  data::Dataset d;
  d.source = "blobs";
  d.height = h;
  d.width = w;
  d.channels = c;
  d.class_names = {"a", "b"};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (size_t i = 0; i < n; ++i) {
    const double cy = u(rng) * h, cx = u(rng) * w, r = 2 + u(rng) * h / 3;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const double dist = std::hypot(y - cy, x - cx);
        for (int ch = 0; ch < c; ++ch) {
          d.pixels.push_back(static_cast<uint8_t>(dist < r ? 200 - 40 * ch : 30));
        }
      }
    }
    d.labels.push_back(static_cast<int32_t>(i % 2));
  }
  return d;
}

TrainConfig Small() {
  TrainConfig c;
  c.model = {"conv", 8, {16, 16, 1}};
  c.epochs = 2;
  c.batch_size = 16;
  c.threads = 1;
  c.seed = 42;
  c.use_cuda_if_available = false;
  return c;
}

struct Recorder {
  std::vector<StepInfo> steps;
  std::vector<EpochInfo> epochs;
  std::vector<model::Checkpoint> checkpoints;
  TrainingCallbacks Callbacks() {
    TrainingCallbacks cb;
    cb.on_step = [this](const StepInfo& s) { steps.push_back(s); };
    cb.on_epoch = [this](const EpochInfo& e) { epochs.push_back(e); };
    cb.on_checkpoint = [this](model::Checkpoint c) {
      checkpoints.push_back(std::move(c));
      return absl::OkStatus();
    };
    return cb;
  }
};

TEST(ValidateTrainConfigTest, RefusesBadConfigsNamingTheField) {
  const data::Dataset d = Blobs(10);
  EXPECT_OK(ValidateTrainConfig(Small(), d));
  auto refused = [&](auto mutate, const std::string& field) {
    TrainConfig c = Small();
    data::Dataset data = d;
    mutate(c, data);
    EXPECT_THAT(ValidateTrainConfig(c, data),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field + ":")))
        << field;
  };
  refused([](TrainConfig& c, data::Dataset&) { c.model.architecture = "vgg"; }, "architecture");
  refused([](TrainConfig& c, data::Dataset&) { c.model.latent_size = 0; }, "latent_size");
  refused([](TrainConfig& c, data::Dataset&) { c.model.latent_size = 5000; }, "latent_size");
  refused([](TrainConfig& c, data::Dataset&) { c.batch_size = 0; }, "batch_size");
  refused([](TrainConfig& c, data::Dataset&) { c.epochs = 0; }, "epochs");
  refused([](TrainConfig& c, data::Dataset&) { c.learning_rate = NAN; }, "learning_rate");
  refused([](TrainConfig& c, data::Dataset&) { c.validation_fraction = 0.6; },
          "validation_fraction");
  refused([](TrainConfig& c, data::Dataset&) { c.time_budget_seconds = -1; },
          "time_budget_seconds");
  refused(
      [](TrainConfig&, data::Dataset& data) {
        data.pixels.clear();
        data.labels.clear();
      },
      "dataset");
  // seed cannot take 16x16? It can (multiple of 16); 20x20 it cannot.
  refused(
      [](TrainConfig& c, data::Dataset& data) {
        c.model = {"seed", 10, {20, 20, 1}};
        data = Blobs(4, 20, 20, 1);
      },
      "input_shape");
  // Data of another shape than the model's input.
  refused([](TrainConfig& c, data::Dataset&) { c.model.input = {32, 32, 1}; }, "input_shape");
}

TEST(ValidateTrainConfigTest, SingleImageKeepsOneForTraining) {
  TrainingPlan p = PlanTraining(Small(), 1);
  EXPECT_EQ(p.train_images, 1u);
  EXPECT_EQ(p.validation_images, 0u);
  TrainConfig c = Small();
  c.max_steps = 3;
  TrainingPlan q = PlanTraining(c, 100);
  EXPECT_EQ(q.validation_images, 10u);
  EXPECT_EQ(q.steps_per_epoch, 6u);  // ceil(90 / 16)
  EXPECT_EQ(q.total_steps, 3u);
}

TEST(RunTrainingTest, LossFallsAndEventsAreConsistent) {
  TrainConfig c = Small();
  c.epochs = 4;
  c.checkpoint_policy = CheckpointPolicy::kEveryEpoch;
  Recorder r;
  ASSERT_OK_AND_ASSIGN(TrainingResult res, RunTraining(c, Blobs(200), r.Callbacks()));
  const TrainingPlan plan = PlanTraining(c, 200);
  EXPECT_EQ(res.steps, plan.total_steps);
  EXPECT_EQ(res.epochs_completed, 4u);
  EXPECT_EQ(res.device, "cpu");
  ASSERT_EQ(r.steps.size(), plan.total_steps);
  EXPECT_EQ(r.steps.back().step, plan.total_steps);
  EXPECT_TRUE(r.steps.back().last_of_epoch);
  EXPECT_EQ(r.steps.back().total_steps, plan.total_steps);
  ASSERT_EQ(r.epochs.size(), 4u);
  EXPECT_LT(r.epochs.back().validation_loss, r.epochs.front().validation_loss);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  ASSERT_EQ(r.checkpoints.size(), 4u);
  const model::CheckpointMetadata& m = r.checkpoints.back().metadata;
  EXPECT_EQ(m.architecture, "conv");
  EXPECT_EQ(m.epoch, 4u);
  EXPECT_EQ(m.step, plan.total_steps);
  EXPECT_EQ(m.validation_loss, r.epochs.back().validation_loss);
  EXPECT_EQ(m.sha256, model::Sha256Hex(r.checkpoints.back().weights));
  // The checkpoint reproduces the model: its validation loss can be
  // recomputed from the weights alone.
  ASSERT_OK_AND_ASSIGN(auto loaded, model::LoadModel(r.checkpoints.back()));
  EXPECT_EQ(loaded->spec().latent_size, 8);
}

TEST(RunTrainingTest, SameSeedGivesIdenticalLossesDifferentSeedDoesNot) {
  const data::Dataset d = Blobs(120);
  for (int threads : {1, 2}) {
    TrainConfig c = Small();
    c.threads = threads;
    c.augment = true;
    Recorder a, b, other;
    ASSERT_OK(RunTraining(c, d, a.Callbacks()).status());
    ASSERT_OK(RunTraining(c, d, b.Callbacks()).status());
    c.seed = 43;
    ASSERT_OK(RunTraining(c, d, other.Callbacks()).status());
    ASSERT_EQ(a.steps.size(), b.steps.size());
    for (size_t i = 0; i < a.steps.size(); ++i) {
      EXPECT_EQ(a.steps[i].loss, b.steps[i].loss) << "threads " << threads << " step " << i;
    }
    ASSERT_EQ(a.epochs.size(), 2u);
    EXPECT_EQ(a.epochs[1].validation_loss, b.epochs[1].validation_loss);
    EXPECT_EQ(a.checkpoints.back().weights, b.checkpoints.back().weights);
    EXPECT_NE(a.steps[3].loss, other.steps[3].loss);
  }
}

TEST(RunTrainingTest, StopRequestEndsAtTheNextStepKeepingEarlierCheckpoints) {
  TrainConfig c = Small();
  c.epochs = 10;
  c.checkpoint_policy = CheckpointPolicy::kEveryEpoch;
  Recorder r;
  TrainingCallbacks cb = r.Callbacks();
  const uint64_t steps_per_epoch = PlanTraining(c, 100).steps_per_epoch;
  // Ask to stop in the middle of epoch 2.
  cb.should_stop = [&] { return r.steps.size() >= steps_per_epoch + 2; };
  ASSERT_OK_AND_ASSIGN(TrainingResult res, RunTraining(c, Blobs(100), cb));
  EXPECT_TRUE(res.stopped);
  EXPECT_EQ(res.steps, steps_per_epoch + 2);
  EXPECT_EQ(res.epochs_completed, 1u);
  EXPECT_EQ(r.epochs.size(), 1u);
  ASSERT_EQ(r.checkpoints.size(), 1u);  // Epoch 1's; nothing half-done.
  EXPECT_EQ(r.checkpoints[0].metadata.epoch, 1u);
}

TEST(RunTrainingTest, EndPolicyWritesOnceAlsoWhenStopped) {
  TrainConfig c = Small();
  c.epochs = 3;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  Recorder done;
  ASSERT_OK(RunTraining(c, Blobs(64), done.Callbacks()).status());
  ASSERT_EQ(done.checkpoints.size(), 1u);
  EXPECT_EQ(done.checkpoints[0].metadata.epoch, 3u);

  Recorder stopped;
  TrainingCallbacks cb = stopped.Callbacks();
  const uint64_t spe = PlanTraining(c, 64).steps_per_epoch;
  cb.should_stop = [&] { return stopped.steps.size() >= spe + 1; };
  ASSERT_OK(RunTraining(c, Blobs(64), cb).status());
  ASSERT_EQ(stopped.checkpoints.size(), 1u);
  EXPECT_EQ(stopped.checkpoints[0].metadata.step, spe + 1);
  EXPECT_FALSE(std::isnan(stopped.checkpoints[0].metadata.validation_loss));

  Recorder early;
  cb = early.Callbacks();
  cb.should_stop = [&] { return early.steps.size() >= 1; };
  ASSERT_OK(RunTraining(c, Blobs(64), cb).status());
  EXPECT_TRUE(early.checkpoints.empty());  // No epoch ended.
}

TEST(RunTrainingTest, BestValidationPolicyAndMaxStepsCutTheEpochShort) {
  TrainConfig c = Small();
  c.epochs = 50;
  c.max_steps = 9;  // 5 steps per epoch: epoch 2 is cut after 4 steps.
  Recorder r;
  ASSERT_OK_AND_ASSIGN(TrainingResult res, RunTraining(c, Blobs(80), r.Callbacks()));
  EXPECT_FALSE(res.stopped);
  EXPECT_EQ(res.steps, 9u);
  ASSERT_EQ(r.epochs.size(), 2u);
  EXPECT_TRUE(r.epochs[1].cut_short);
  EXPECT_FALSE(r.epochs[0].cut_short);
  // Best-validation: epoch 1 always; epoch 2 only if it improved.
  ASSERT_GE(r.checkpoints.size(), 1u);
  for (size_t i = 1; i < r.checkpoints.size(); ++i) {
    EXPECT_LT(r.checkpoints[i].metadata.validation_loss,
              r.checkpoints[i - 1].metadata.validation_loss);
  }
}

TEST(RunTrainingTest, TimeBudgetUsesTheInjectedClock) {
  TrainConfig c = Small();
  c.epochs = 100;
  c.time_budget_seconds = 10;
  Recorder r;
  TrainingCallbacks cb = r.Callbacks();
  absl::Time t = absl::UnixEpoch();
  cb.now = [&] {
    t += absl::Seconds(1);  // Every clock read advances one second.
    return t;
  };
  // 200 images: 12 steps per epoch, so the budget ends inside epoch 1.
  ASSERT_OK_AND_ASSIGN(TrainingResult res, RunTraining(c, Blobs(200), cb));
  EXPECT_FALSE(res.stopped);
  EXPECT_LT(res.steps, 10u);
  EXPECT_GE(res.steps, 1u);
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_TRUE(r.epochs[0].cut_short);
  EXPECT_FALSE(std::isnan(r.epochs[0].validation_loss));  // Evaluated.
  EXPECT_EQ(r.checkpoints.size(), 1u);
}

TEST(RunTrainingTest, OptimizersAndSeedTrainTooAndBf16IsAnOption) {
  const data::Dataset d = Blobs(48);
  for (OptimizerKind o : {OptimizerKind::kAdam, OptimizerKind::kAdamW}) {
    TrainConfig c = Small();
    c.optimizer = o;
    c.weight_decay = 1e-4;
    Recorder r;
    ASSERT_OK(RunTraining(c, d, r.Callbacks()).status());
    EXPECT_LT(r.epochs.back().train_loss, r.steps.front().loss);
  }
  TrainConfig seed = Small();
  seed.model = {"seed", 10, {16, 16, 1}};
  seed.epochs = 1;
  seed.precision = Precision::kBFloat16;
  Recorder r;
  ASSERT_OK(RunTraining(seed, d, r.Callbacks()).status());
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_TRUE(std::isfinite(r.epochs[0].validation_loss));
}

TEST(ConvertDatasetTest, ResizesAndConvertsChannels) {
  ASSERT_OK_AND_ASSIGN(data::Dataset d, ConvertDataset(Blobs(3, 28, 28, 1), {32, 32, 3}));
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.pixels.size(), 3u * 32 * 32 * 3);
  EXPECT_EQ(d.labels.size(), 3u);
  EXPECT_OK(data::Validate(d));
}

}  // namespace
}  // namespace latentsearch::trainer

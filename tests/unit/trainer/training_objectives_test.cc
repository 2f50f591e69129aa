// The denoising and contrastive objectives, the learning-rate schedule and
// the per-epoch precision@10 on small synthetic data.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/model/checkpoint.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

// n images of 16 × 16 × c in two classes: a bright disc (label 0) or a
// bright square (label 1) of random position and size on a dark ground.
data::Dataset Shapes(size_t n, int c = 1, uint64_t seed = 1) {
  data::Dataset d;
  d.source = "shapes";
  d.height = d.width = 16;
  d.channels = c;
  d.class_names = {"disc", "square"};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (size_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    const double cy = 4 + u(rng) * 8, cx = 4 + u(rng) * 8, r = 2 + u(rng) * 3;
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) {
        const bool in = label == 0 ? std::hypot(y - cy, x - cx) < r
                                   : std::abs(y - cy) < r && std::abs(x - cx) < r;
        for (int ch = 0; ch < c; ++ch) {
          d.pixels.push_back(static_cast<uint8_t>(in ? 200 - 30 * ch : 20 + 10 * ch));
        }
      }
    }
    d.labels.push_back(label);
  }
  return d;
}

TrainConfig Contrastive() {
  TrainConfig c;
  c.model = {"resnet_small", 16, {16, 16, 3}};
  c.objective = Objective::kContrastive;
  c.optimizer = OptimizerKind::kAdamW;
  c.epochs = 2;
  c.batch_size = 32;
  c.threads = 1;
  c.seed = 5;
  c.use_cuda_if_available = false;
  c.eval_images = 40;
  c.validation_fraction = 0.25;
  c.projection_hidden = 32;
  c.projection_dim = 16;
  return c;
}

struct Recorder {
  std::vector<EpochInfo> epochs;
  std::vector<model::Checkpoint> checkpoints;
  TrainingCallbacks Callbacks() {
    TrainingCallbacks cb;
    cb.on_epoch = [this](const EpochInfo& e) { epochs.push_back(e); };
    cb.on_checkpoint = [this](model::Checkpoint c) {
      checkpoints.push_back(std::move(c));
      return absl::OkStatus();
    };
    return cb;
  }
};

TEST(ContrastiveTest, TrainsMeasuresPrecisionAndSavesOnlyTheEncoder) {
  const data::Dataset d = Shapes(160, 3);
  TrainConfig c = Contrastive();
  c.epochs = 4;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  Recorder rec;
  ASSERT_OK_AND_ASSIGN(TrainingResult r, RunTraining(c, d, rec.Callbacks()));
  ASSERT_EQ(rec.epochs.size(), 4u);
  for (const EpochInfo& e : rec.epochs) {
    EXPECT_TRUE(std::isfinite(e.train_loss));
    EXPECT_TRUE(std::isfinite(e.validation_loss));
    EXPECT_GE(e.precision_at_10, 0.0);
    EXPECT_LE(e.precision_at_10, 1.0);
    EXPECT_GE(e.precision_at_10_cosine, 0.0);
    EXPECT_GT(e.cpu_seconds, 0.0);
    EXPECT_GT(e.pixel_precision_at_10, 0.0);  // Measured once, reported every epoch.
    EXPECT_EQ(e.pixel_precision_at_10, rec.epochs[0].pixel_precision_at_10);
  }
  // The views of an image align: the loss drops.
  EXPECT_LT(rec.epochs.back().train_loss, rec.epochs.front().train_loss);
  EXPECT_LT(rec.epochs.back().validation_loss, rec.epochs.front().validation_loss);
  ASSERT_EQ(rec.checkpoints.size(), 1u);
  const model::Checkpoint& ckpt = rec.checkpoints[0];
  EXPECT_EQ(ckpt.metadata.objective, "contrastive");
  EXPECT_EQ(ckpt.metadata.decoder_parameters, 0u);
  ASSERT_OK_AND_ASSIGN(auto m, model::LoadModel(ckpt));
  EXPECT_EQ(m->decoder_parameters(), 0);
  std::vector<float> x(16 * 16 * 3, 0.5f);
  ASSERT_OK_AND_ASSIGN(std::vector<float> z, m->Encode(x, 1));
  EXPECT_EQ(z.size(), 16u);
  EXPECT_THAT(m->Decode(z, 1).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no decoder")));
}

TEST(ContrastiveTest, ReconstructionWeightTrainsAndKeepsTheDecoder) {
  const data::Dataset d = Shapes(96, 1);
  TrainConfig c = Contrastive();
  c.model = {"conv", 8, {16, 16, 1}};
  c.epochs = 1;
  c.reconstruction_weight = 1.0;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  Recorder rec;
  ASSERT_OK(RunTraining(c, d, rec.Callbacks()).status());
  ASSERT_EQ(rec.checkpoints.size(), 1u);
  EXPECT_GT(rec.checkpoints[0].metadata.decoder_parameters, 0u);
  ASSERT_OK_AND_ASSIGN(auto m, model::LoadModel(rec.checkpoints[0]));
  EXPECT_GT(m->decoder_parameters(), 0);
}

TEST(ContrastiveTest, TheWhitenedEmbeddingIsFittedEveryEpochAndSaved) {
  const data::Dataset d = Shapes(96, 3);
  TrainConfig c = Contrastive();
  c.epochs = 2;
  c.checkpoint_policy = CheckpointPolicy::kEveryEpoch;
  c.embedding = Embedding::kWhitened;
  c.whitening_mirror = true;
  c.whitening_images = 50;
  Recorder rec;
  ASSERT_OK(RunTraining(c, d, rec.Callbacks()).status());
  ASSERT_EQ(rec.epochs.size(), 2u);
  ASSERT_EQ(rec.checkpoints.size(), 2u);
  for (const EpochInfo& e : rec.epochs) {
    EXPECT_GE(e.precision_at_10, 0.0);
    EXPECT_LE(e.precision_at_10, 1.0);
  }
  // Each epoch's checkpoint carries its own fit: unit-length embeddings,
  // the same for an image and its mirror image, differing per epoch.
  const size_t per = 16 * 16 * 3;
  std::vector<float> x(2 * per), mirrored(2 * per);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) / 13.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t col = i % 16;
    mirrored[i - col + 15 - col] = x[i];
  }
  std::vector<std::vector<float>> per_epoch;
  for (const model::Checkpoint& ckpt : rec.checkpoints) {
    ASSERT_OK_AND_ASSIGN(auto m, model::LoadModel(ckpt));
    EXPECT_TRUE(m->has_embedding_head());
    ASSERT_OK_AND_ASSIGN(std::vector<float> z, m->Encode(x, 2));
    ASSERT_OK_AND_ASSIGN(std::vector<float> zm, m->Encode(mirrored, 2));
    double norm = 0;
    for (size_t j = 0; j < 16; ++j) norm += z[j] * z[j];
    EXPECT_NEAR(norm, 1.0, 1e-5);
    for (size_t j = 0; j < z.size(); ++j) EXPECT_NEAR(z[j], zm[j], 1e-5) << j;
    per_epoch.push_back(z);
  }
  EXPECT_NE(per_epoch[0], per_epoch[1]);
  // The latent embedding (the default) has no head.
  c.embedding = Embedding::kLatent;
  c.epochs = 1;
  Recorder plain;
  ASSERT_OK(RunTraining(c, d, plain.Callbacks()).status());
  ASSERT_OK_AND_ASSIGN(auto m, model::LoadModel(plain.checkpoints.back()));
  EXPECT_FALSE(m->has_embedding_head());
}

TEST(ContrastiveTest, SameSeedGivesIdenticalLossesAndPrecision) {
  const data::Dataset d = Shapes(96, 3);
  TrainConfig c = Contrastive();
  c.epochs = 1;
  Recorder a, b;
  ASSERT_OK(RunTraining(c, d, a.Callbacks()).status());
  ASSERT_OK(RunTraining(c, d, b.Callbacks()).status());
  ASSERT_EQ(a.epochs.size(), 1u);
  ASSERT_EQ(b.epochs.size(), 1u);
  EXPECT_EQ(a.epochs[0].train_loss, b.epochs[0].train_loss);
  EXPECT_EQ(a.epochs[0].validation_loss, b.epochs[0].validation_loss);
  EXPECT_EQ(a.epochs[0].precision_at_10, b.epochs[0].precision_at_10);
  ASSERT_FALSE(a.checkpoints.empty());
  EXPECT_EQ(a.checkpoints.back().weights, b.checkpoints.back().weights);
}

TEST(DenoisingTest, LearnsToReconstructCleanImages) {
  const data::Dataset d = Shapes(200, 1);
  TrainConfig c;
  c.model = {"conv", 16, {16, 16, 1}};
  c.objective = Objective::kDenoising;
  c.epochs = 4;
  c.batch_size = 16;
  c.threads = 1;
  c.seed = 3;
  c.use_cuda_if_available = false;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  Recorder rec;
  ASSERT_OK(RunTraining(c, d, rec.Callbacks()).status());
  ASSERT_EQ(rec.epochs.size(), 4u);
  EXPECT_LT(rec.epochs.back().validation_loss, rec.epochs.front().validation_loss);
  EXPECT_TRUE(std::isnan(rec.epochs.back().precision_at_10));  // eval_images 0.
  ASSERT_EQ(rec.checkpoints.size(), 1u);
  EXPECT_EQ(rec.checkpoints[0].metadata.objective, "denoising");
  EXPECT_GT(rec.checkpoints[0].metadata.decoder_parameters, 0u);
}

TEST(LrScheduleTest, WarmupCosineReachesThePeakAfterWarmupAndZeroAtTheEnd) {
  const data::Dataset d = Shapes(64, 1);
  TrainConfig c;
  c.model = {"conv", 4, {16, 16, 1}};
  c.epochs = 2;
  c.batch_size = 16;
  c.validation_fraction = 0;
  c.threads = 1;
  c.use_cuda_if_available = false;
  c.optimizer = OptimizerKind::kAdam;
  c.learning_rate = 0.01;
  c.lr_schedule = LrSchedule::kWarmupCosine;
  c.warmup_fraction = 0.5;
  Recorder rec;
  ASSERT_OK(RunTraining(c, d, rec.Callbacks()).status());
  ASSERT_EQ(rec.epochs.size(), 2u);
  // 4 steps per epoch, 8 in all: step 4 has progress 4/8 = the end of the
  // warm-up (peak); step 8 progress 1 (cosine at 0).
  EXPECT_NEAR(rec.epochs[0].learning_rate, 0.01, 1e-12);
  EXPECT_NEAR(rec.epochs[1].learning_rate, 0.0, 1e-12);
  c.lr_schedule = LrSchedule::kConstant;
  Recorder constant;
  ASSERT_OK(RunTraining(c, d, constant.Callbacks()).status());
  EXPECT_EQ(constant.epochs[1].learning_rate, 0.01);
}

TEST(ObjectiveConfigTest, RefusesBadValuesNamingTheField) {
  const data::Dataset d = Shapes(20, 3);
  auto refused = [&](auto mutate, const std::string& field) {
    TrainConfig c = Contrastive();
    mutate(c);
    EXPECT_THAT(ValidateTrainConfig(c, d),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)))
        << field;
  };
  EXPECT_OK(ValidateTrainConfig(Contrastive(), d));
  refused([](TrainConfig& c) { c.temperature = 0; }, "temperature");
  refused([](TrainConfig& c) { c.temperature = 11; }, "temperature");
  refused([](TrainConfig& c) { c.reconstruction_weight = -1; }, "reconstruction_weight");
  refused([](TrainConfig& c) { c.views.min_scale = 0; }, "views.min_crop_scale");
  refused([](TrainConfig& c) { c.views.min_scale = 1.5; }, "views.min_crop_scale");
  refused([](TrainConfig& c) { c.views.min_ratio = 0; }, "views.ratio");
  refused([](TrainConfig& c) { c.views.flip_probability = NAN; }, "views.flip_probability");
  refused([](TrainConfig& c) { c.views.jitter_probability = -0.1; }, "views.jitter_probability");
  refused([](TrainConfig& c) { c.views.contrast = 1; }, "views.jitter_strength");
  refused([](TrainConfig& c) { c.views.grayscale_probability = 2; }, "views.grayscale_probability");
  refused([](TrainConfig& c) { c.warmup_fraction = 0.7; }, "warmup_fraction");
  refused([](TrainConfig& c) { c.batch_size = 1; }, "batch_size: 1: the contrastive");
  refused(
      [](TrainConfig& c) {
        c.embedding = Embedding::kWhitened;
        c.whitening_shrinkage = 0;
      },
      "embedding: whitening shrinkage 0");
  refused(
      [](TrainConfig& c) {
        c.embedding = Embedding::kWhitened;
        c.whitening_images = 1;
      },
      "embedding: whitening needs >= 2 images");
  const data::Dataset two = Shapes(2, 3);
  TrainConfig tiny = Contrastive();
  tiny.batch_size = 2;
  tiny.validation_fraction = 0.5;
  tiny.embedding = Embedding::kWhitened;
  EXPECT_THAT(ValidateTrainConfig(tiny, two),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("embedding: whitening needs >= 2 training images")));
}

}  // namespace
}  // namespace latentsearch::trainer

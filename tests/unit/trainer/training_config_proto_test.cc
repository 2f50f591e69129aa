// ResolveConfig: a TrainingConfig's zeros and absent fields become the
// documented defaults (training_defaults.h, the same values TrainConfig
// starts from), and wrong enum values are refused naming the field.
#include "services/trainer/training_config_proto.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/trainer/training_defaults.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ResolveConfigTest, ZeroMeansTheDocumentedDefault) {
  v1::TrainingConfig c;
  c.mutable_dataset()->set_cifar10_dir("/data/cifar10");
  ASSERT_OK_AND_ASSIGN(ResolvedConfig r, ResolveConfig(c, 2));
  EXPECT_EQ(r.train.model.architecture, "conv");
  EXPECT_EQ(r.train.model.latent_size, 10);
  EXPECT_EQ(r.train.epochs, 30);
  EXPECT_EQ(r.train.batch_size, 32);
  EXPECT_EQ(r.train.optimizer, OptimizerKind::kAdamax);
  EXPECT_EQ(r.train.learning_rate, 1e-3);
  EXPECT_EQ(r.train.validation_fraction, 0.1);
  EXPECT_EQ(r.train.checkpoint_policy, CheckpointPolicy::kBestValidation);
  EXPECT_EQ(r.train.threads, 2);
  EXPECT_EQ(r.model_name, "default");
  EXPECT_EQ(r.dataset.split, data::Split::kTrain);
  EXPECT_EQ(r.effective.epochs(), 30u);
  EXPECT_EQ(r.effective.validation_fraction(), 0.1);
  c.set_validation_fraction(0);  // Present: no validation split.
  ASSERT_OK_AND_ASSIGN(ResolvedConfig r0, ResolveConfig(c, 0));
  EXPECT_EQ(r0.train.validation_fraction, 0);
}

TEST(ResolveConfigTest, ContrastiveViewsDefaultToSimClrAndTakeWhatIsSet) {
  v1::TrainingConfig c;
  c.mutable_dataset()->set_idx_dir("/data/fashion-mnist");
  c.set_objective(v1::OBJECTIVE_CONTRASTIVE);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig r, ResolveConfig(c, 1));
  const AugmentOptions simclr = AugmentOptions::SimClr();
  EXPECT_EQ(r.train.views.min_scale, simclr.min_scale);
  EXPECT_EQ(r.train.views.jitter_probability, simclr.jitter_probability);
  // The effective config shows the defaults used.
  EXPECT_EQ(r.effective.views().min_crop_scale(), 0.2);
  EXPECT_EQ(r.effective.views().flip_probability(), 0.5);
  EXPECT_EQ(r.effective.views().jitter_probability(), 0.8);
  EXPECT_EQ(r.effective.views().jitter_strength(), 0.4);
  EXPECT_EQ(r.effective.views().grayscale_probability(), 0.2);

  v1::ViewAugmentation* v = c.mutable_views();
  v->set_min_crop_scale(0.7);
  v->set_flip_probability(0);  // Present: no flips (not "the default").
  v->set_jitter_probability(0.5);
  v->set_jitter_strength(0.2);
  v->set_grayscale_probability(0);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig m, ResolveConfig(c, 1));
  EXPECT_EQ(m.train.views.min_scale, 0.7);
  EXPECT_EQ(m.train.views.max_scale, simclr.max_scale);
  EXPECT_EQ(m.train.views.flip_probability, 0);
  EXPECT_EQ(m.train.views.jitter_probability, 0.5);
  EXPECT_EQ(m.train.views.brightness, 0.2);
  EXPECT_EQ(m.train.views.contrast, 0.2);
  EXPECT_EQ(m.train.views.saturation, 0.2);
  EXPECT_EQ(m.train.views.grayscale_probability, 0);
  EXPECT_EQ(m.effective.views().min_crop_scale(), 0.7);
  EXPECT_EQ(m.effective.views().flip_probability(), 0);
}

TEST(ResolveConfigTest, EmbeddingDefaultsToWhitenedForContrastiveOnly) {
  v1::TrainingConfig c;
  c.mutable_dataset()->set_idx_dir("/data/fashion-mnist");
  ASSERT_OK_AND_ASSIGN(ResolvedConfig rec, ResolveConfig(c, 1));
  EXPECT_EQ(rec.train.embedding, Embedding::kLatent);
  EXPECT_EQ(rec.effective.embedding(), v1::EMBEDDING_KIND_LATENT);
  c.set_objective(v1::OBJECTIVE_CONTRASTIVE);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig con, ResolveConfig(c, 1));
  EXPECT_EQ(con.train.embedding, Embedding::kWhitened);
  EXPECT_TRUE(con.train.whitening_mirror) << "SimCLR's views flip";
  EXPECT_EQ(con.effective.embedding(), v1::EMBEDDING_KIND_WHITENED);
  c.mutable_views()->set_flip_probability(0);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig noflip, ResolveConfig(c, 1));
  EXPECT_FALSE(noflip.train.whitening_mirror) << "trained without flips";
  c.set_embedding(v1::EMBEDDING_KIND_LATENT);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig latent, ResolveConfig(c, 1));
  EXPECT_EQ(latent.train.embedding, Embedding::kLatent);
  // Reconstruction with flips, whitened on request: mirrored.
  v1::TrainingConfig r;
  r.mutable_dataset()->set_idx_dir("/data/fashion-mnist");
  r.set_augment(true);
  r.set_embedding(v1::EMBEDDING_KIND_WHITENED);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig rw, ResolveConfig(r, 1));
  EXPECT_EQ(rw.train.embedding, Embedding::kWhitened);
  EXPECT_TRUE(rw.train.whitening_mirror);
  r.set_embedding(static_cast<v1::EmbeddingKind>(7));
  EXPECT_THAT(ResolveConfig(r, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("embedding: 7 is not an EmbeddingKind value")));
}

TEST(ResolveConfigTest, DefaultsAreTrainConfigsDefaults) {
  v1::TrainingConfig c;
  c.mutable_dataset()->set_idx_dir("/data/fashion-mnist");
  c.set_objective(v1::OBJECTIVE_CONTRASTIVE);
  c.set_lr_schedule(v1::LR_SCHEDULE_WARMUP_COSINE);
  ASSERT_OK_AND_ASSIGN(ResolvedConfig r, ResolveConfig(c, 1));
  const TrainConfig defaults;
  EXPECT_EQ(r.train.model.architecture, defaults.model.architecture);
  EXPECT_EQ(r.train.epochs, defaults.epochs);
  EXPECT_EQ(r.train.batch_size, defaults.batch_size);
  EXPECT_EQ(r.train.learning_rate, defaults.learning_rate);
  EXPECT_EQ(r.train.validation_fraction, defaults.validation_fraction);
  EXPECT_EQ(r.train.temperature, defaults.temperature);
  EXPECT_EQ(r.train.warmup_fraction, defaults.warmup_fraction);
  EXPECT_EQ(r.train.eval_images, kDefaultEvalImages);
  EXPECT_EQ(r.model_name, kDefaultModelName);
}

TEST(ResolveConfigTest, LimitsNameTheFieldAndTheBound) {
  v1::TrainingConfig c;
  c.mutable_dataset()->set_idx_dir("/data/fashion-mnist");
  c.set_epochs(kMaxEpochs + 1);
  EXPECT_THAT(ResolveConfig(c, 1), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("epochs: 10001 exceeds 10000")));
  c.set_epochs(kMaxEpochs);
  c.set_batch_size(kMaxBatchSize + 1);
  EXPECT_THAT(ResolveConfig(c, 1), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("batch_size: 4097 exceeds 4096")));
  c.set_batch_size(kMaxBatchSize);
  c.set_temperature(11);
  EXPECT_THAT(ResolveConfig(c, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("temperature: 11 is outside (0, 10] (0 = 0.2)")));
  c.set_temperature(0);
  c.set_threads(kMaxThreads + 1);
  EXPECT_THAT(ResolveConfig(c, 1), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("threads: 1025 exceeds 1024")));
  c.set_threads(0);
  c.set_learning_rate(-1);
  EXPECT_THAT(ResolveConfig(c, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("learning_rate: -1 must be finite and > 0 (0 = 0.001)")));
}

}  // namespace
}  // namespace latentsearch::trainer

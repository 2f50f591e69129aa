// The real latentsearch-trainer binary training the contrastive objective
// (resnet_small, NT-Xent over two augmented views) on a real data subset
// for a few hundred steps: the held-out k-NN precision@10 the trainer
// streams in its EpochEvents must rise above the raw-pixel precision of the
// same held-out subset (EpochEvent.pixel_precision_at_10). CIFAR-10 comes
// from ../shared/data/cifar10 (skipped when absent). (Fashion-MNIST is not
// tested here: a few hundred steps do not beat its raw pixels, 0.70 on such
// a subset — see docs/training.md.)
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/trainer.grpc.pb.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

class ContrastiveIntegrationTest : public ::testing::Test {
 protected:
  // Trains and returns the job's epoch events (empty on failure).
  std::vector<v1::EpochEvent> Train(v1::TrainingConfig config) {
    std::vector<v1::EpochEvent> epochs;
    // The trainer binary on a unix socket, no push targets; its stderr goes
    // to dir_/trainer.log.
    absl::StatusOr<std::unique_ptr<Subprocess>> trainer =
        Subprocess::StartServer({latentsearch::testing::BinaryPath("latentsearch-trainer"),
                                 "--listen=unix:" + dir_.Join("trainer.sock"),
                                 "--data_dir=" + dir_.Join("data"), "--threads=2", "--cuda=false"},
                                dir_.Join("trainer.log"));
    EXPECT_OK(trainer.status());
    if (!trainer.ok()) return epochs;
    auto stub = v1::Trainer::NewStub(rpc::CreateChannel((*trainer)->address()));
    grpc::ClientContext ctx;
    v1::StartTrainingRequest req;
    *req.mutable_config() = config;
    v1::StartTrainingResponse started;
    grpc::Status s = stub->StartTraining(&ctx, req, &started);
    EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
    if (!s.ok()) return epochs;
    grpc::ClientContext wctx;
    v1::WatchTrainingRequest wreq;
    wreq.set_job_id(started.job_id());
    auto reader = stub->WatchTraining(&wctx, wreq);
    v1::TrainingEvent e;
    v1::JobState final_state = v1::JOB_STATE_UNSPECIFIED;
    std::string message;
    while (reader->Read(&e)) {
      if (e.has_epoch()) {
        epochs.push_back(e.epoch());
        std::printf(
            "epoch %u: train %.4f validation %.4f precision@10 L2 %.3f cosine %.3f "
            "(raw pixels %.3f), %.0f s wall, %.0f s CPU\n",
            e.epoch().epoch(), e.epoch().train_loss(), e.epoch().validation_loss(),
            e.epoch().precision_at_10(), e.epoch().precision_at_10_cosine(),
            e.epoch().pixel_precision_at_10(), e.epoch().seconds(), e.epoch().cpu_seconds());
      }
      if (e.has_state()) {
        final_state = e.state().state();
        message = e.state().message();
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(final_state, v1::JOB_STATE_SUCCEEDED) << message;
    const int status = (*trainer)->Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    return epochs;
  }

  static v1::TrainingConfig Config() {
    v1::TrainingConfig c;
    c.set_model_name("contrastive");
    c.set_architecture("resnet_small");
    c.set_latent_size(64);
    c.set_objective(v1::OBJECTIVE_CONTRASTIVE);
    c.set_optimizer(v1::OPTIMIZER_ADAMW);
    c.set_learning_rate(2e-3);
    c.set_weight_decay(1e-4);
    c.set_lr_schedule(v1::LR_SCHEDULE_WARMUP_COSINE);
    c.set_batch_size(128);
    c.set_epochs(3);
    c.set_seed(1);
    c.set_threads(2);
    c.set_validation_fraction(1.0 / 6.0);
    c.set_eval_images(1000);
    c.set_checkpoint_policy(v1::CHECKPOINT_POLICY_END);
    c.mutable_dataset()->set_max_images(6000);  // 5,000 train (40 steps/epoch), 1,000 held out.
    return c;
  }

  static void ExpectBeatsRawPixels(const std::vector<v1::EpochEvent>& epochs) {
    ASSERT_EQ(epochs.size(), 3u);
    for (const v1::EpochEvent& e : epochs) {
      ASSERT_TRUE(e.has_precision_at_10());
      ASSERT_TRUE(e.has_precision_at_10_cosine());
      ASSERT_TRUE(e.has_pixel_precision_at_10());
      EXPECT_GT(e.cpu_seconds(), 0);
    }
    const v1::EpochEvent& last = epochs.back();
    EXPECT_GT(last.precision_at_10(), epochs.front().precision_at_10());
    EXPECT_GT(last.precision_at_10(), last.pixel_precision_at_10());
    EXPECT_GT(last.precision_at_10_cosine(), last.pixel_precision_at_10());
  }

  TempDir dir_;
};

TEST_F(ContrastiveIntegrationTest, Cifar10SubsetBeatsRawPixels) {
  std::optional<std::string> dir = latentsearch::testing::Cifar10Dir();
  if (!dir) GTEST_SKIP() << "CIFAR-10 not found (../shared/data/cifar10)";
  v1::TrainingConfig c = Config();
  c.mutable_dataset()->set_cifar10_dir(*dir);
  ExpectBeatsRawPixels(Train(c));
}

}  // namespace
}  // namespace latentsearch::trainer

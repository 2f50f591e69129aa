// Jobs survive a trainer restart (#11): the real latentsearch-trainer binary
// is killed with SIGKILL in the middle of a job; started again on the same
// --data_dir it lists the job as JOB_STATE_INTERRUPTED, WatchTraining
// replays every event a watcher had received before the kill (then the
// interrupted state event, then the stream ends), and ResumeTraining
// continues the job from its newest snapshot to success, its events
// numbered on without gaps.
#include <signal.h>
#include <sys/wait.h>

#include <memory>
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
#include "tests/unit/trainer/test_data.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

class TrainerRestartTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::WriteBlobIdx(dir_.path(), 4000, 16); }

  void StartTrainer(const std::string& log) {
    ASSERT_OK_AND_ASSIGN(trainer_, Subprocess::StartServer(
                                       {latentsearch::testing::BinaryPath("latentsearch-trainer"),
                                        "--listen=unix:" + dir_.Join("trainer.sock"),
                                        "--data_dir=" + dir_.Join("data"), "--threads=1",
                                        "--cuda=false", "--snapshot_every_steps=10"},
                                       dir_.Join(log)));
    stub_ = v1::Trainer::NewStub(rpc::CreateChannel(trainer_->address()));
  }

  v1::TrainingConfig Config() const {
    v1::TrainingConfig c;
    c.mutable_dataset()->set_idx_dir(dir_.path());
    c.set_architecture("conv");
    c.set_latent_size(8);
    c.set_epochs(3);
    c.set_batch_size(32);
    c.set_seed(3);
    c.set_threads(1);
    c.set_checkpoint_policy(v1::CHECKPOINT_POLICY_EVERY_EPOCH);
    return c;
  }

  v1::Job GetJob(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::Job job;
    EXPECT_TRUE(stub_->GetJob(&ctx, req, &job).ok());
    return job;
  }

  // Every event of `id` (history, then live) until the stream ends.
  std::vector<v1::TrainingEvent> WatchToEnd(const std::string& id) {
    grpc::ClientContext ctx;
    v1::WatchTrainingRequest req;
    req.set_job_id(id);
    auto reader = stub_->WatchTraining(&ctx, req);
    std::vector<v1::TrainingEvent> events;
    v1::TrainingEvent e;
    while (reader->Read(&e)) events.push_back(e);
    EXPECT_TRUE(reader->Finish().ok());
    return events;
  }

  TempDir dir_;
  std::unique_ptr<Subprocess> trainer_;
  std::unique_ptr<v1::Trainer::Stub> stub_;
};

TEST_F(TrainerRestartTest, KilledTrainerListsJobInterruptedReplaysEventsAndResumes) {
  StartTrainer("trainer1.log");
  grpc::ClientContext sctx;
  v1::StartTrainingRequest sreq;
  *sreq.mutable_config() = Config();
  v1::StartTrainingResponse started;
  ASSERT_TRUE(stub_->StartTraining(&sctx, sreq, &started).ok());
  const std::string id = started.job_id();

  // Follow the job until it is past its first epoch and 10 more steps (at
  // least one snapshot after the epoch's), then SIGKILL the trainer.
  std::vector<v1::TrainingEvent> before;
  {
    grpc::ClientContext ctx;
    v1::WatchTrainingRequest req;
    req.set_job_id(id);
    auto reader = stub_->WatchTraining(&ctx, req);
    v1::TrainingEvent e;
    uint64_t epoch_end_step = 0;
    bool epoch_seen = false;
    while (reader->Read(&e)) {
      before.push_back(e);
      if (e.has_step() && e.step().epoch() == 1 && epoch_end_step == 0 &&
          e.step().step() * 32 >= 3600) {
        epoch_end_step = e.step().step();
      }
      if (e.has_epoch()) epoch_seen = true;
      if (epoch_seen && e.has_step() && e.step().step() >= epoch_end_step + 20) break;
    }
    ASSERT_TRUE(epoch_seen) << "the job ended before it could be killed";
    const int status = trainer_->Stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    ctx.TryCancel();
  }
  trainer_.reset();
  const uint64_t killed_at_step = [&] {
    uint64_t s = 0;
    for (const auto& e : before) s = e.has_step() ? e.step().step() : s;
    return s;
  }();

  StartTrainer("trainer2.log");
  {
    grpc::ClientContext ctx;
    v1::ListJobsResponse list;
    ASSERT_TRUE(stub_->ListJobs(&ctx, v1::ListJobsRequest(), &list).ok());
    ASSERT_EQ(list.jobs_size(), 1);
    EXPECT_EQ(list.jobs(0).job_id(), id);
    EXPECT_EQ(list.jobs(0).state(), v1::JOB_STATE_INTERRUPTED);
    EXPECT_GE(list.jobs(0).step(), killed_at_step);
    EXPECT_EQ(list.jobs(0).checkpoints_size(), 1);
  }
  // The replay holds every event the watcher got, then INTERRUPTED.
  const std::vector<v1::TrainingEvent> replay = WatchToEnd(id);
  ASSERT_GT(replay.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(replay[i].SerializeAsString(), before[i].SerializeAsString()) << i;
  }
  for (size_t i = 0; i < replay.size(); ++i) EXPECT_EQ(replay[i].sequence(), i + 1);
  ASSERT_TRUE(replay.back().has_state());
  EXPECT_EQ(replay.back().state().state(), v1::JOB_STATE_INTERRUPTED);

  grpc::ClientContext rctx;
  v1::ResumeTrainingRequest rreq;
  rreq.set_job_id(id);
  v1::ResumeTrainingResponse resumed;
  grpc::Status rs = stub_->ResumeTraining(&rctx, rreq, &resumed);
  ASSERT_TRUE(rs.ok()) << rpc::FormatGrpcStatus(rs);
  EXPECT_GE(resumed.resume_step(), 113u + 10u);  // Past epoch 1's end (113 steps).
  EXPECT_EQ(resumed.world_size(), 1u);
  EXPECT_EQ(resumed.global_batch_size(), 32u);

  const std::vector<v1::TrainingEvent> all = WatchToEnd(id);
  ASSERT_GT(all.size(), replay.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].sequence(), i + 1);
  uint64_t first_step_after = 0;
  for (size_t i = replay.size(); i < all.size() && first_step_after == 0; ++i) {
    if (all[i].has_step()) first_step_after = all[i].step().step();
  }
  EXPECT_GT(first_step_after, resumed.resume_step());
  const v1::Job job = GetJob(id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_EQ(job.step(), job.total_steps());
  EXPECT_EQ(job.resumes(), 1u);
  EXPECT_EQ(job.checkpoints_size(), 3);

  const int status = trainer_->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace latentsearch::trainer

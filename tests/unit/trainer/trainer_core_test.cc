// TrainerCore without gRPC: the event log, push retry rules with a fake
// pusher, and shutdown. (ResolveConfig: training_config_proto_test.cc;
// PushQueue on its own: push_queue_test.cc.)
#include "services/trainer/trainer_core.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/trainer/test_data.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EventLogTest, NumbersEventsAndNotifiesListenersUntilRemoved) {
  EventLog log("job-1");
  std::atomic<int> calls{0};
  uint64_t id = log.AddListener([&] { calls++; });
  v1::TrainingEvent e;
  e.mutable_state()->set_state(v1::JOB_STATE_RUNNING);
  log.Append(e);
  log.Append(e);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(log.At(1).sequence(), 2u);
  EXPECT_EQ(log.At(0).job_id(), "job-1");
  EXPECT_TRUE(log.At(0).has_time());
  EXPECT_TRUE(log.WaitForMore(1, absl::ZeroDuration()));
  EXPECT_FALSE(log.WaitForMore(2, absl::ZeroDuration()));
  log.RemoveListener(id);
  log.Close();
  log.Append(e);  // Ignored after Close.
  EXPECT_EQ(log.size(), 2u);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_TRUE(log.closed());
}

// Fails with a fixed sequence of statuses, then succeeds.
class ScriptedPusher final : public CheckpointPusher {
 public:
  explicit ScriptedPusher(std::vector<absl::Status> script) : script_(std::move(script)) {}
  absl::Status Push(const std::string& target, const model::Checkpoint& c) override {
    absl::MutexLock lock(&mu_);
    targets_.push_back(target);
    if (next_ < script_.size()) return script_[next_++];
    return absl::OkStatus();
  }
  std::vector<std::string> targets() {
    absl::MutexLock lock(&mu_);
    return targets_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> script_;
  size_t next_ = 0;
  std::vector<std::string> targets_;
};

class TrainerCoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<TrainerCore> Make(std::shared_ptr<CheckpointPusher> pusher,
                                    model::PrecisionTimer timer = nullptr) {
    testing::WriteBlobIdx(dir_.path(), 48);
    TrainerOptions o;
    o.precision_timer = std::move(timer);
    o.data_dir = dir_.Join("t");
    o.push_to = {"encoder-a"};
    o.pusher = std::move(pusher);
    o.backoff_wait = [](absl::Duration) { return true; };
    o.default_threads = 1;
    o.use_cuda_if_available = false;
    auto core = TrainerCore::Create(o);
    EXPECT_OK(core.status());
    return *std::move(core);
  }
  v1::TrainingConfig Config(int epochs) {
    v1::TrainingConfig c;
    c.mutable_dataset()->set_idx_dir(dir_.path());
    c.set_epochs(epochs);
    c.set_batch_size(16);
    c.set_checkpoint_policy(v1::CHECKPOINT_POLICY_END);
    return c;
  }
  std::vector<v1::PushEvent> Pushes(TrainerCore& core, const std::string& id) {
    auto log = core.Events(id);
    EXPECT_OK(log.status());
    while (!(*log)->closed()) (*log)->WaitForMore((*log)->size(), absl::InfiniteDuration());
    std::vector<v1::PushEvent> out;
    for (const auto& e : (*log)->Snapshot()) {
      if (e.has_push()) out.push_back(e.push());
    }
    return out;
  }
  TempDir dir_;
};

TEST_F(TrainerCoreTest, NonRetryableErrorsAreFinalAtOnceRetryableOnesAreRetried) {
  auto pusher = std::make_shared<ScriptedPusher>(std::vector<absl::Status>{
      absl::UnavailableError("down"), absl::DeadlineExceededError("slow")});
  auto core = Make(pusher);
  ASSERT_OK_AND_ASSIGN(auto started, core->StartTraining(Config(1)));
  std::vector<v1::PushEvent> p = Pushes(*core, started.job_id());
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].error_code(), "UNAVAILABLE");
  EXPECT_EQ(p[1].error_code(), "DEADLINE_EXCEEDED");
  EXPECT_TRUE(p[2].ok());
  EXPECT_TRUE(p[2].final());
  EXPECT_EQ(p[2].attempt(), 3u);

  auto refusing = std::make_shared<ScriptedPusher>(
      std::vector<absl::Status>{absl::DataLossError("SHA-256 mismatch")});
  TempDir other;
  auto core2 = Make(refusing);
  ASSERT_OK_AND_ASSIGN(auto s2, core2->StartTraining(Config(1)));
  std::vector<v1::PushEvent> q = Pushes(*core2, s2.job_id());
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].error_code(), "DATA_LOSS");
  EXPECT_TRUE(q[0].final());
  ASSERT_OK_AND_ASSIGN(v1::Job job, core2->GetJob(s2.job_id()));
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
}

// #13: --precision=auto (TrainerOptions' default) reports its choice and
// both timings in the job's events, before the first step, and in the Job.
TEST_F(TrainerCoreTest, JobEventsAndTheJobShowThePrecisionChoice) {
  auto bf16_faster = [](model::Precision p,
                        const std::function<absl::Status()>& run) -> absl::StatusOr<double> {
    absl::Status s = run();
    if (!s.ok()) return s;
    return p == model::Precision::kBFloat16 ? 0.75 : 1.5;
  };
  auto core = Make(std::make_shared<ScriptedPusher>(std::vector<absl::Status>{}), bf16_faster);
  ASSERT_OK_AND_ASSIGN(auto started, core->StartTraining(Config(1)));
  Pushes(*core, started.job_id());  // Waits for the log to close.
  ASSERT_OK_AND_ASSIGN(auto log, core->Events(started.job_id()));
  std::vector<v1::PrecisionEvent> precision;
  int steps_before = -1;
  int steps = 0;
  for (const auto& e : log->Snapshot()) {
    if (e.has_precision()) {
      precision.push_back(e.precision());
      if (steps_before < 0) steps_before = steps;
    }
    if (e.has_step()) ++steps;
  }
  ASSERT_EQ(precision.size(), 1u);
  EXPECT_EQ(steps_before, 0);
  const v1::PrecisionEvent& p = precision[0];
  EXPECT_EQ(p.requested(), "auto");
  EXPECT_EQ(p.chosen(), "bf16");
  EXPECT_TRUE(p.measured());
  EXPECT_DOUBLE_EQ(p.fp32_seconds_per_step(), 0.5);  // 1.5 s over 3 timed steps.
  EXPECT_DOUBLE_EQ(p.bf16_seconds_per_step(), 0.25);
  EXPECT_EQ(p.trial_steps(), 3u);
  EXPECT_TRUE(p.bf16_safe());
  EXPECT_LE(p.loss_difference(), p.loss_tolerance());
  EXPECT_DOUBLE_EQ(p.loss_tolerance(), model::kTrainLossTolerance);
  EXPECT_THAT(p.reason(), HasSubstr("bf16 chosen"));
  ASSERT_OK_AND_ASSIGN(v1::Job job, core->GetJob(started.job_id()));
  EXPECT_EQ(job.precision(), "bf16");
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
}

TEST_F(TrainerCoreTest, ShutdownStopsTheRunningJobAndDropsQueuedOnes) {
  auto core = Make(std::make_shared<ScriptedPusher>(std::vector<absl::Status>{}));
  ASSERT_OK_AND_ASSIGN(auto a, core->StartTraining(Config(10000)));
  ASSERT_OK_AND_ASSIGN(auto b, core->StartTraining(Config(1)));
  EXPECT_GE(b.queue_position(), 0u);
  // Wait until a has taken a step, without sleeping: follow its log.
  ASSERT_OK_AND_ASSIGN(auto log, core->Events(a.job_id()));
  for (size_t seen = 0;; seen = log->size()) {
    bool stepped = false;
    for (const auto& e : log->Snapshot()) stepped |= e.has_step();
    if (stepped) break;
    log->WaitForMore(seen, absl::InfiniteDuration());
  }
  core->Shutdown();
  ASSERT_OK_AND_ASSIGN(v1::Job ja, core->GetJob(a.job_id()));
  ASSERT_OK_AND_ASSIGN(v1::Job jb, core->GetJob(b.job_id()));
  EXPECT_EQ(ja.state(), v1::JOB_STATE_STOPPED);
  EXPECT_EQ(jb.state(), v1::JOB_STATE_STOPPED);
  EXPECT_TRUE(log->closed());
  EXPECT_THAT(core->StartTraining(Config(1)).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
}

}  // namespace
}  // namespace latentsearch::trainer

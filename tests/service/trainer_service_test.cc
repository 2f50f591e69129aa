// The trainer through its gRPC stub, with a fake encoder on port 0 and a
// dead encoder address: jobs, queueing, watching (live and late), stopping,
// listing, downloading, and pushes with retries.
#include "services/trainer/trainer_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/model/checkpoint.h"
#include "common/rpc/channel.h"
#include "common/rpc/server.h"
#include "common/rpc/status_util.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/trainer.grpc.pb.h"
#include "services/trainer/push_client.h"
#include "services/trainer/trainer_core.h"
#include "tests/unit/trainer/fake_encoder.h"
#include "tests/unit/trainer/test_data.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Nothing listens on port 1 of the loopback (and we may not bind it).
constexpr char kDeadAddress[] = "127.0.0.1:1";

class TrainerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteBlobIdx(dir_.path(), 96);
    ASSERT_OK_AND_ASSIGN(encoder_, testing::FakeEncoder::Start());
    TrainerOptions o;
    o.data_dir = dir_.Join("trainer");
    o.push_to = {encoder_->address(), kDeadAddress};
    o.pusher = std::make_shared<GrpcCheckpointPusher>();
    o.backoff.max_attempts = 3;
    o.backoff_wait = [this](absl::Duration d) {
      absl::MutexLock lock(&mu_);
      waits_.push_back(d);
      return true;  // No sleeping in tests.
    };
    o.default_threads = 1;
    o.use_cuda_if_available = false;
    ASSERT_OK_AND_ASSIGN(core_, TrainerCore::Create(o));
    service_ = std::make_unique<TrainerService>(core_.get());
    rpc::ServerOptions so;
    so.listen = "127.0.0.1:0";
    ASSERT_OK_AND_ASSIGN(server_, rpc::Server::Start(so, {service_.get()}));
    stub_ = v1::Trainer::NewStub(rpc::CreateChannel(server_->address()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::ZeroDuration());
    if (core_) core_->Shutdown();
  }

  v1::TrainingConfig Config(int epochs = 2) {
    v1::TrainingConfig c;
    c.mutable_dataset()->set_idx_dir(dir_.path());
    c.set_model_name("blobs");
    c.set_latent_size(6);
    c.set_epochs(epochs);
    c.set_batch_size(16);
    c.set_seed(7);
    c.set_checkpoint_policy(v1::CHECKPOINT_POLICY_EVERY_EPOCH);
    return c;
  }

  absl::StatusOr<v1::StartTrainingResponse> Start(const v1::TrainingConfig& c) {
    grpc::ClientContext ctx;
    v1::StartTrainingRequest req;
    *req.mutable_config() = c;
    v1::StartTrainingResponse resp;
    absl::Status s = rpc::FromGrpcStatus(stub_->StartTraining(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp;
  }

  // Reads a whole WatchTraining stream (it ends when the job and its pushes
  // are done).
  absl::StatusOr<std::vector<v1::TrainingEvent>> Watch(const std::string& job,
                                                       bool skip_history = false) {
    grpc::ClientContext ctx;
    v1::WatchTrainingRequest req;
    req.set_job_id(job);
    req.set_skip_history(skip_history);
    auto reader = stub_->WatchTraining(&ctx, req);
    std::vector<v1::TrainingEvent> events;
    v1::TrainingEvent e;
    while (reader->Read(&e)) events.push_back(e);
    absl::Status s = rpc::FromGrpcStatus(reader->Finish());
    if (!s.ok()) return s;
    return events;
  }

  absl::StatusOr<v1::Job> GetJob(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_job_id(id);
    v1::Job job;
    absl::Status s = rpc::FromGrpcStatus(stub_->GetJob(&ctx, req, &job));
    if (!s.ok()) return s;
    return job;
  }

  absl::StatusOr<v1::JobState> Stop(const std::string& id) {
    grpc::ClientContext ctx;
    v1::StopTrainingRequest req;
    req.set_job_id(id);
    v1::StopTrainingResponse resp;
    absl::Status s = rpc::FromGrpcStatus(stub_->StopTraining(&ctx, req, &resp));
    if (!s.ok()) return s;
    return resp.state();
  }

  TempDir dir_;
  std::unique_ptr<testing::FakeEncoder> encoder_;
  std::unique_ptr<TrainerCore> core_;
  std::unique_ptr<TrainerService> service_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Trainer::Stub> stub_;
  absl::Mutex mu_;
  std::vector<absl::Duration> waits_;
};

TEST_F(TrainerServiceTest, TrainsWatchesAndPushesWithRetriesToADeadEncoder) {
  ASSERT_OK_AND_ASSIGN(v1::StartTrainingResponse started, Start(Config()));
  EXPECT_EQ(started.job_id(), "job-000001");
  EXPECT_EQ(started.state(), v1::JOB_STATE_QUEUED);
  ASSERT_OK_AND_ASSIGN(std::vector<v1::TrainingEvent> events, Watch(started.job_id()));

  std::vector<v1::JobState> states;
  std::vector<v1::CheckpointMetadata> checkpoints;
  std::vector<v1::PushEvent> live_pushes, dead_pushes;
  int epochs = 0, steps = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::TrainingEvent& e = events[i];
    EXPECT_EQ(e.sequence(), i + 1);  // No gaps.
    EXPECT_EQ(e.job_id(), started.job_id());
    if (e.has_state()) states.push_back(e.state().state());
    if (e.has_epoch()) ++epochs;
    if (e.has_step()) ++steps;
    if (e.has_checkpoint()) checkpoints.push_back(e.checkpoint().metadata());
    if (e.has_push()) {
      (e.push().target() == kDeadAddress ? dead_pushes : live_pushes).push_back(e.push());
    }
  }
  EXPECT_THAT(states,
              ElementsAre(v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_SUCCEEDED));
  EXPECT_EQ(epochs, 2);
  EXPECT_GE(steps, 2);  // At least the last step of each epoch.
  ASSERT_EQ(checkpoints.size(), 2u);
  EXPECT_EQ(checkpoints[0].model().name(), "blobs");
  EXPECT_EQ(checkpoints[1].model().version(), 2u);
  EXPECT_EQ(checkpoints[1].architecture(), "conv");
  EXPECT_EQ(checkpoints[1].job_id(), started.job_id());

  // The live encoder took both, with the announced SHA-256.
  std::vector<testing::FakeEncoder::Received> got = encoder_->received();
  ASSERT_EQ(got.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(got[i].sha256, checkpoints[i].sha256());
    EXPECT_EQ(got[i].bytes, checkpoints[i].size_bytes());
    EXPECT_EQ(got[i].metadata.model().version(), i + 1);
    EXPECT_LE(got[i].largest_chunk, 1u << 20);
  }
  EXPECT_TRUE(encoder_->refused().empty());
  ASSERT_EQ(live_pushes.size(), 2u);
  for (const auto& p : live_pushes) {
    EXPECT_TRUE(p.ok());
    EXPECT_EQ(p.attempt(), 1u);
    EXPECT_TRUE(p.final());
  }
  // The dead one: three attempts per checkpoint, UNAVAILABLE, the last final.
  ASSERT_EQ(dead_pushes.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_FALSE(dead_pushes[i].ok());
    EXPECT_EQ(dead_pushes[i].error_code(), "UNAVAILABLE");
    EXPECT_EQ(dead_pushes[i].attempt(), i % 3 + 1);
    EXPECT_EQ(dead_pushes[i].final(), i % 3 == 2);
  }
  EXPECT_THAT(dead_pushes[2].message(), HasSubstr("giving up after 3 attempts"));
  {
    absl::MutexLock lock(&mu_);
    EXPECT_THAT(waits_, ElementsAre(absl::Milliseconds(500), absl::Seconds(1),
                                    absl::Milliseconds(500), absl::Seconds(1)));
  }
  ASSERT_OK_AND_ASSIGN(v1::Job job, GetJob(started.job_id()));
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);  // A dead encoder is not fatal.
  EXPECT_EQ(job.checkpoints_size(), 2);
  EXPECT_EQ(job.config().epochs(), 2u);
  EXPECT_EQ(job.config().optimizer(), v1::OPTIMIZER_ADAMAX);  // Default filled in.
  EXPECT_EQ(job.config().input_shape().height(), 16u);
  EXPECT_EQ(job.train_images() + job.validation_images(), 96u);
  EXPECT_EQ(job.step(), job.total_steps());
  EXPECT_FALSE(std::isnan(job.best_validation_loss()));

  // A late watcher gets the same history; skip_history gets nothing more.
  ASSERT_OK_AND_ASSIGN(std::vector<v1::TrainingEvent> again, Watch(started.job_id()));
  ASSERT_EQ(again.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(again[i].SerializeAsString(), events[i].SerializeAsString());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<v1::TrainingEvent> none, Watch(started.job_id(), true));
  EXPECT_TRUE(none.empty());
}

TEST_F(TrainerServiceTest, SecondJobQueuesAndStopRemovesItOrStopsTheRunningOne) {
  ASSERT_OK_AND_ASSIGN(auto a, Start(Config(/*epochs=*/10000)));
  ASSERT_OK_AND_ASSIGN(auto b, Start(Config()));
  EXPECT_EQ(b.state(), v1::JOB_STATE_QUEUED);
  ASSERT_OK_AND_ASSIGN(v1::JobState sb, Stop(b.job_id()));
  EXPECT_EQ(sb, v1::JOB_STATE_STOPPED);
  ASSERT_OK_AND_ASSIGN(auto b_events, Watch(b.job_id()));
  ASSERT_EQ(b_events.size(), 2u);
  EXPECT_EQ(b_events[1].state().state(), v1::JOB_STATE_STOPPED);

  // Stop the first one (running, or about to run) and follow it to the end.
  ASSERT_OK(Stop(a.job_id()).status());
  ASSERT_OK_AND_ASSIGN(auto a_events, Watch(a.job_id()));
  ASSERT_FALSE(a_events.empty());
  EXPECT_EQ(a_events.back().state().state(), v1::JOB_STATE_STOPPED);
  ASSERT_OK_AND_ASSIGN(v1::Job ja, GetJob(a.job_id()));
  EXPECT_EQ(ja.state(), v1::JOB_STATE_STOPPED);
  EXPECT_LT(ja.step(), ja.total_steps());
  // Stopping a finished job is a no-op.
  ASSERT_OK_AND_ASSIGN(v1::JobState again, Stop(a.job_id()));
  EXPECT_EQ(again, v1::JOB_STATE_STOPPED);

  grpc::ClientContext ctx;
  v1::ListJobsRequest req;
  v1::ListJobsResponse resp;
  ASSERT_TRUE(stub_->ListJobs(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.jobs_size(), 2);
  EXPECT_EQ(resp.jobs(0).job_id(), b.job_id());  // Newest first.
  grpc::ClientContext ctx2;
  req.add_states(v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(stub_->ListJobs(&ctx2, req, &resp).ok());
  EXPECT_EQ(resp.jobs_size(), 0);
}

TEST_F(TrainerServiceTest, InvalidConfigsAreInvalidArgumentNamingTheField) {
  auto refused = [&](v1::TrainingConfig c, const std::string& field) {
    EXPECT_THAT(Start(c).status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)))
        << field;
  };
  v1::TrainingConfig c = Config();
  c.set_architecture("transformer");
  refused(c,
          "architecture: unknown architecture 'transformer'; known: conv, resnet, "
          "resnet_small, seed");
  c = Config();
  c.set_latent_size(5000);
  refused(c, "latent_size");
  c = Config();
  c.set_batch_size(5000);
  refused(c, "batch_size");
  c = Config();
  c.clear_dataset();
  refused(c, "dataset: no source");
  c = Config();
  c.mutable_dataset()->set_idx_dir(dir_.Join("nowhere"));
  refused(c, "dataset: cannot read");
  c = Config();
  c.set_architecture("seed");
  c.mutable_input_shape()->set_height(20);
  c.mutable_input_shape()->set_width(20);
  refused(c, "input_shape");
  c = Config();
  c.set_validation_fraction(0.7);
  refused(c, "validation_fraction");
  c = Config();
  c.set_objective(static_cast<v1::Objective>(17));
  refused(c, "objective: 17 is not an Objective value");
  c = Config();
  c.set_objective(v1::OBJECTIVE_CONTRASTIVE);
  c.set_temperature(-0.5);
  refused(c, "temperature");
  c = Config();
  c.set_reconstruction_weight(-1);
  refused(c, "reconstruction_weight");
  c = Config();
  c.set_objective(v1::OBJECTIVE_CONTRASTIVE);
  c.mutable_views()->set_min_crop_scale(0);
  refused(c, "views.min_crop_scale: 0 is outside (0, 1]");
  c.mutable_views()->set_min_crop_scale(0.5);
  c.mutable_views()->set_jitter_strength(1);
  refused(c, "views.jitter_strength: 1 is outside [0, 1)");
  c.mutable_views()->set_jitter_strength(0.2);
  c.mutable_views()->set_flip_probability(1.5);
  refused(c, "views.flip_probability: 1.5 is outside [0, 1]");
  c = Config();
  c.set_lr_schedule(v1::LR_SCHEDULE_WARMUP_COSINE);
  c.set_warmup_fraction(0.9);
  refused(c, "warmup_fraction");
  c = Config();
  c.set_learning_rate(-1);
  refused(c, "learning_rate");
  c = Config();
  c.set_model_name("../x");
  refused(c, "model_name");
  c = Config();
  c.mutable_dataset()->set_image_folder(dir_.path());
  refused(c, "input_shape: required");
}

TEST_F(TrainerServiceTest, ListAndDownloadCheckpointsInChunks) {
  v1::TrainingConfig c = Config(1);
  c.clear_push_to();
  ASSERT_OK_AND_ASSIGN(auto started, Start(c));
  ASSERT_OK(Watch(started.job_id()).status());

  grpc::ClientContext lctx;
  v1::ListCheckpointsRequest lreq;
  v1::ListCheckpointsResponse list;
  ASSERT_TRUE(stub_->ListCheckpoints(&lctx, lreq, &list).ok());
  ASSERT_EQ(list.checkpoints_size(), 1);
  const v1::CheckpointMetadata& meta = list.checkpoints(0);
  EXPECT_EQ(meta.model().name(), "blobs");
  EXPECT_EQ(meta.input_shape().channels(), 1u);
  EXPECT_GT(meta.encoder_parameters(), 0u);

  grpc::ClientContext dctx;
  v1::DownloadCheckpointRequest dreq;
  dreq.mutable_model()->set_name("blobs");
  dreq.set_chunk_size_bytes(4096);
  auto reader = stub_->DownloadCheckpoint(&dctx, dreq);
  v1::CheckpointChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  ASSERT_TRUE(chunk.has_metadata());
  EXPECT_EQ(chunk.metadata().sha256(), meta.sha256());
  model::Sha256 sha;
  size_t bytes = 0, chunks = 0;
  while (reader->Read(&chunk)) {
    ASSERT_TRUE(chunk.has_data());
    EXPECT_LE(chunk.data().size(), 4096u);
    sha.Update(chunk.data());
    bytes += chunk.data().size();
    ++chunks;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(bytes, meta.size_bytes());
  EXPECT_EQ(sha.HexDigest(), meta.sha256());
  EXPECT_GT(chunks, 1u);

  auto download_status = [&](const std::string& name, uint32_t chunk_size) {
    grpc::ClientContext ctx;
    v1::DownloadCheckpointRequest r;
    r.mutable_model()->set_name(name);
    r.set_chunk_size_bytes(chunk_size);
    auto rd = stub_->DownloadCheckpoint(&ctx, r);
    v1::CheckpointChunk ch;
    while (rd->Read(&ch)) {
    }
    return rpc::FromGrpcStatus(rd->Finish());
  };
  EXPECT_THAT(download_status("blobs", 100),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("chunk_size_bytes")));
  EXPECT_THAT(download_status("nobody", 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
}

TEST_F(TrainerServiceTest, UnknownJobsAreNotFound) {
  EXPECT_THAT(GetJob("job-999999").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job-999999")));
  EXPECT_THAT(Watch("job-999999").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job-999999")));
  EXPECT_THAT(Watch("").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no job is running")));
  EXPECT_THAT(Stop("job-999999").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("job-999999")));
}

}  // namespace
}  // namespace latentsearch::trainer

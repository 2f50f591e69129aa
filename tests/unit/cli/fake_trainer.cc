#include "tests/unit/cli/fake_trainer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "grpcpp/server_builder.h"

namespace latentsearch::cli {
namespace {

constexpr char kJobId[] = "job-000001";
constexpr int64_t kEpochSeconds = 1700000000;  // 2023-11-14T22:13:20Z

v1::TrainingEvent Event(const std::string& job_id, uint64_t sequence) {
  v1::TrainingEvent e;
  e.set_job_id(job_id);
  e.set_sequence(sequence);
  e.mutable_time()->set_seconds(kEpochSeconds + static_cast<int64_t>(sequence));
  return e;
}

v1::TrainingEvent Step(const std::string& job_id, uint64_t sequence, uint32_t epoch, uint64_t step,
                       double loss, double eta) {
  v1::TrainingEvent e = Event(job_id, sequence);
  v1::StepEvent* s = e.mutable_step();
  s->set_epoch(epoch);
  s->set_step(step);
  s->set_total_steps(5280);
  s->set_loss(loss);
  s->set_images_per_second(812.5);
  s->set_eta_seconds(eta);
  return e;
}

}  // namespace

std::vector<v1::TrainingEvent> FakeTrainer::Events(const std::string& job_id) {
  std::vector<v1::TrainingEvent> events;
  uint64_t seq = 0;
  events.push_back(Step(job_id, ++seq, 1, 1320, 0.04125, 1200));
  v1::TrainingEvent epoch = Event(job_id, ++seq);
  v1::EpochEvent* ep = epoch.mutable_epoch();
  ep->set_epoch(1);
  ep->set_train_loss(0.0375);
  ep->set_validation_loss(0.03625);
  ep->set_seconds(61.25);
  ep->set_precision_at_10(0.8125);
  ep->set_precision_at_10_cosine(0.825);
  ep->set_cpu_seconds(120.5);
  events.push_back(epoch);
  v1::TrainingEvent checkpoint = Event(job_id, ++seq);
  v1::CheckpointMetadata* m = checkpoint.mutable_checkpoint()->mutable_metadata();
  m->mutable_model()->set_name("default");
  m->mutable_model()->set_version(3);
  m->set_architecture("conv");
  m->set_latent_size(64);
  m->set_epoch(1);
  m->set_validation_loss(0.03625);
  m->set_job_id(job_id);
  events.push_back(checkpoint);
  v1::TrainingEvent push = Event(job_id, ++seq);
  v1::PushEvent* p = push.mutable_push();
  p->set_target("127.0.0.1:50052");
  p->mutable_model()->set_name("default");
  p->mutable_model()->set_version(3);
  p->set_attempt(1);
  p->set_ok(true);
  p->set_final(true);
  events.push_back(push);
  // The time budget ends the job mid-epoch: the last step event still
  // carries an ETA.
  events.push_back(Step(job_id, ++seq, 2, 2634, 0.03375, 549));
  v1::TrainingEvent state = Event(job_id, ++seq);
  state.mutable_state()->set_state(v1::JOB_STATE_SUCCEEDED);
  state.mutable_state()->set_message("stopped at the time budget (120 s)");
  events.push_back(state);
  return events;
}

grpc::Status FakeTrainer::StartTraining(grpc::ServerContext*, const v1::StartTrainingRequest*,
                                        v1::StartTrainingResponse* resp) {
  resp->set_job_id(kJobId);
  resp->set_state(v1::JOB_STATE_QUEUED);
  return grpc::Status::OK;
}

grpc::Status FakeTrainer::WatchTraining(grpc::ServerContext*, const v1::WatchTrainingRequest* req,
                                        grpc::ServerWriter<v1::TrainingEvent>* writer) {
  const std::string job_id = req->job_id().empty() ? kJobId : req->job_id();
  if (job_id != kJobId) return grpc::Status(grpc::NOT_FOUND, "no job " + job_id);
  for (const v1::TrainingEvent& e : Events(job_id)) {
    if (!writer->Write(e)) break;
  }
  return grpc::Status::OK;
}

grpc::Status FakeTrainer::StopTraining(grpc::ServerContext*, const v1::StopTrainingRequest*,
                                       v1::StopTrainingResponse* resp) {
  resp->set_state(v1::JOB_STATE_RUNNING);
  return grpc::Status::OK;
}

grpc::Status FakeTrainer::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                                   v1::ListJobsResponse* resp) {
  v1::Job* j = resp->add_jobs();
  j->set_job_id(kJobId);
  j->set_state(v1::JOB_STATE_SUCCEEDED);
  j->mutable_config()->set_epochs(4);
  j->mutable_config()->mutable_dataset()->set_idx_dir("/data/fashion-mnist");
  j->mutable_created_at()->set_seconds(kEpochSeconds);
  j->mutable_started_at()->set_seconds(kEpochSeconds + 1);
  j->mutable_finished_at()->set_seconds(kEpochSeconds + 121);
  j->set_epoch(2);
  j->set_step(2634);
  j->set_total_steps(5280);
  j->set_last_train_loss(0.03375);
  j->set_best_validation_loss(0.03625);
  j->add_checkpoints()->set_version(3);
  j->mutable_checkpoints(0)->set_name("default");
  j->set_train_images(54000);
  j->set_validation_images(6000);
  v1::Job* queued = resp->add_jobs();
  queued->set_job_id("job-000002");
  queued->set_state(v1::JOB_STATE_QUEUED);
  queued->set_best_validation_loss(NAN);
  return grpc::Status::OK;
}

FakeTrainerServer::FakeTrainerServer() {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&trainer_);
  server_ = builder.BuildAndStart();
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeTrainerServer::~FakeTrainerServer() {
  if (server_ != nullptr) server_->Shutdown();
}

}  // namespace latentsearch::cli

#include "services/trainer/trainer_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/data/load.h"
#include "common/model/checkpoint_proto.h"
#include "services/trainer/training_defaults.h"

namespace latentsearch::trainer {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Step events are published at most every kStepEventEvery steps or
// kStepEventInterval, and at the end of every epoch.
constexpr uint64_t kStepEventEvery = 20;
constexpr absl::Duration kStepEventInterval = absl::Milliseconds(200);

absl::Status Field(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// The images `keep` (sorted indices) of `dataset`.
data::Dataset Subset(const data::Dataset& dataset, const std::vector<size_t>& keep) {
  data::Dataset subset;
  subset.source = absl::StrCat(dataset.source, " (", keep.size(), " images)");
  subset.height = dataset.height;
  subset.width = dataset.width;
  subset.channels = dataset.channels;
  subset.class_names = dataset.class_names;
  for (size_t i : keep) {
    subset.pixels.insert(subset.pixels.end(), dataset.image_data(i),
                         dataset.image_data(i) + dataset.image_bytes());
    subset.labels.push_back(dataset.labels[i]);
    if (!dataset.uris.empty()) subset.uris.push_back(dataset.uris[i]);
  }
  return subset;
}

// Reads rc's data set (a seeded sample of max_images of it), fills the
// input shape's 0s from it and converts the images to that shape.
absl::StatusOr<data::Dataset> LoadJobDataset(ResolvedConfig* rc) {
  absl::StatusOr<data::Dataset> loaded = data::LoadDataset(rc->dataset);
  if (!loaded.ok()) {
    return Field("dataset",
                 absl::StrCat("cannot read '", rc->dataset.path, "': ", loaded.status().message()));
  }
  data::Dataset dataset = *std::move(loaded);
  if (rc->max_images > 0 && rc->max_images < dataset.size()) {
    std::vector<size_t> keep = data::SampleIndices(dataset.size(), rc->max_images, rc->train.seed);
    std::sort(keep.begin(), keep.end());
    dataset = Subset(dataset, keep);
  }
  model::InputShape& in = rc->train.model.input;
  if (in.height == 0) in.height = dataset.height;
  if (in.width == 0) in.width = dataset.width;
  if (in.channels == 0) in.channels = dataset.channels;
  if (absl::Status s = model::ValidateSpec(rc->train.model); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.message(), rc->explicit_input ? ""
                                                     : " (the data set's own shape; set "
                                                       "input_shape to resize)"));
  }
  if (in != model::InputShape{dataset.height, dataset.width, dataset.channels}) {
    LS_ASSIGN_OR_RETURN(dataset, ConvertDataset(dataset, in));
  }
  return dataset;
}

v1::TrainingEvent StepEvent(const StepInfo& s) {
  v1::TrainingEvent e;
  v1::StepEvent* p = e.mutable_step();
  p->set_epoch(s.epoch);
  p->set_step(s.step);
  p->set_total_steps(s.total_steps);
  p->set_loss(s.loss);
  p->set_images_per_second(s.images_per_second);
  p->set_eta_seconds(s.eta_seconds);
  p->set_world_size(static_cast<uint32_t>(std::max(1, s.world_size)));
  for (double r : s.rank_images_per_second) p->add_rank_images_per_second(r);
  return e;
}

v1::TrainingEvent EpochEvent(const EpochInfo& ep) {
  v1::TrainingEvent e;
  v1::EpochEvent* p = e.mutable_epoch();
  p->set_epoch(ep.epoch);
  p->set_train_loss(ep.train_loss);
  p->set_validation_loss(ep.validation_loss);
  p->set_seconds(ep.seconds);
  if (!std::isnan(ep.precision_at_10)) p->set_precision_at_10(ep.precision_at_10);
  if (!std::isnan(ep.precision_at_10_cosine)) {
    p->set_precision_at_10_cosine(ep.precision_at_10_cosine);
  }
  p->set_cpu_seconds(ep.cpu_seconds);
  if (!std::isnan(ep.pixel_precision_at_10)) {
    p->set_pixel_precision_at_10(ep.pixel_precision_at_10);
  }
  return e;
}

v1::TrainingEvent PrecisionEvent(const model::PrecisionChoice& c) {
  auto value = [](double v) { return std::isfinite(v) ? v : 0.0; };
  v1::TrainingEvent e;
  v1::PrecisionEvent* p = e.mutable_precision();
  p->set_requested(model::PrecisionName(c.requested));
  p->set_chosen(model::PrecisionName(c.chosen));
  p->set_measured(c.measured);
  p->set_fp32_seconds_per_step(value(c.fp32_seconds));
  p->set_bf16_seconds_per_step(value(c.bf16_seconds));
  p->set_trial_steps(static_cast<uint32_t>(std::max(0, c.trial_units)));
  p->set_loss_difference(value(c.loss_difference));
  p->set_loss_tolerance(model::kTrainLossTolerance);
  p->set_bf16_safe(c.bf16_safe);
  p->set_reason(c.reason);
  return e;
}

}  // namespace

struct TrainerCore::JobRecord {
  std::string id;
  v1::Job job;  // Guarded by TrainerCore::mu_.
  ResolvedConfig config;
  data::Dataset dataset;  // Released once the job has run.
  // The snapshot a resumed job continues from ("" = from the start);
  // released once the job has started.
  std::string resume;
  std::shared_ptr<EventLog> log;  // Replaced (guarded by mu_) on resume.
  std::atomic<bool> stop{false};
  int pending_pushes = 0;  // Guarded by TrainerCore::mu_.
  bool ended = false;      // Guarded by TrainerCore::mu_.
  // The last published StepEvent (the worker thread only).
  absl::Time last_step_event = absl::InfinitePast();
  uint64_t last_step_sent = 0;
};

TrainerCore::TrainerCore(const TrainerOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<TrainerCore>> TrainerCore::Create(const TrainerOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("TrainerOptions.data_dir is required");
  }
  if (!options.push_to.empty() && options.pusher == nullptr) {
    return absl::InvalidArgumentError("push targets given but no CheckpointPusher");
  }
  std::unique_ptr<TrainerCore> core(new TrainerCore(options));
  LS_ASSIGN_OR_RETURN(
      core->store_, model::CheckpointStore::Open(base::JoinPath(options.data_dir, "checkpoints")));
  LS_ASSIGN_OR_RETURN(core->jobs_store_, JobStore::Open(base::JoinPath(options.data_dir, "jobs")));
  LS_RETURN_IF_ERROR(core->LoadJobs());
  core->worker_ = std::thread([c = core.get()] { c->WorkerLoop(); });
  return core;
}

TrainerCore::~TrainerCore() { Shutdown(); }

std::shared_ptr<EventLog> TrainerCore::NewLog(const std::string& job_id,
                                              std::vector<v1::TrainingEvent> history) {
  JobStore* store = jobs_store_.get();
  return std::make_shared<EventLog>(
      job_id, std::move(history), [store, job_id](const v1::TrainingEvent& e) {
        if (absl::Status s = store->AppendEvent(job_id, e); !s.ok()) {
          LOG(WARNING) << job_id << ": event " << e.sequence() << " not persisted: " << s;
        }
      });
}

void TrainerCore::PersistJob(const JobRecord& job) {
  if (absl::Status s = jobs_store_->SaveJob(job.job); !s.ok()) {
    LOG(WARNING) << job.id << ": record not persisted: " << s;
  }
}

absl::Status TrainerCore::LoadJobs() {
  LS_ASSIGN_OR_RETURN(std::vector<StoredJob> stored, jobs_store_->LoadAll());
  absl::MutexLock lock(&mu_);
  for (StoredJob& sj : stored) {
    auto job = std::make_shared<JobRecord>();
    job->id = sj.job.job_id();
    job->job = std::move(sj.job);
    // The record is written at state changes and epochs; the newest step
    // event knows how far the job got since.
    for (auto it = sj.events.rbegin(); it != sj.events.rend(); ++it) {
      if (!it->has_step()) continue;
      if (it->step().step() > job->job.step()) {
        job->job.set_step(it->step().step());
        job->job.set_epoch(it->step().epoch());
        job->job.set_last_train_loss(it->step().loss());
      }
      break;
    }
    job->log = NewLog(job->id, std::move(sj.events));
    job->ended = true;
    const v1::JobState state = job->job.state();
    if (state == v1::JOB_STATE_QUEUED || state == v1::JOB_STATE_RUNNING) {
      LOG(WARNING) << job->id << " was " << v1::JobState_Name(state)
                   << " when the trainer last ended: marked interrupted (ResumeTraining "
                      "continues it)";
      SetState(job, v1::JOB_STATE_INTERRUPTED,
               absl::StrCat("the trainer ended while the job was ",
                            state == v1::JOB_STATE_RUNNING ? "running" : "queued",
                            "; resume it to continue"));
    }
    job->log->Close();
    uint64_t n = 0;
    if (absl::SimpleAtoi(absl::string_view(job->id).substr(4), &n) && n >= next_job_) {
      next_job_ = n + 1;
    }
    jobs_[job->id] = std::move(job);
  }
  if (!stored.empty()) LOG(INFO) << "job store: " << stored.size() << " job(s) loaded";
  return absl::OkStatus();
}

void TrainerCore::Shutdown() {
  std::map<std::string, std::unique_ptr<PushQueue>> queues;
  {
    absl::MutexLock lock(&mu_);
    if (!shutdown_) {
      shutdown_ = true;
      if (running_) running_->stop = true;
      for (auto& job : queue_) {
        SetState(job, v1::JOB_STATE_STOPPED, "trainer shutting down");
        job->ended = true;
        job->dataset = {};
        MaybeCloseLog(job);
      }
      queue_.clear();
    }
  }
  if (worker_.joinable()) worker_.join();
  {
    absl::MutexLock lock(&mu_);
    queues.swap(push_queues_);
  }
  // Stop them all before joining any, so that no queue starts a queued push
  // while another is being joined.
  for (auto& [target, queue] : queues) queue->Stop();
  queues.clear();  // Joins: in-flight attempts finish, waits end at once.
  absl::MutexLock lock(&mu_);
  for (auto& [id, job] : jobs_) job->log->Close();
}

bool TrainerCore::Wait(absl::Duration d) {
  if (options_.backoff_wait) {
    const bool ok = options_.backoff_wait(d);
    absl::MutexLock lock(&mu_);
    return ok && !shutdown_;
  }
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&shutdown_), d);
  return !shutdown_;
}

void TrainerCore::SetState(const std::shared_ptr<JobRecord>& job, v1::JobState state,
                           const std::string& message) {
  job->job.set_state(state);
  const absl::Time now = absl::Now();
  if (state == v1::JOB_STATE_RUNNING) model::TimeToProto(now, job->job.mutable_started_at());
  if (state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
      state == v1::JOB_STATE_STOPPED) {
    model::TimeToProto(now, job->job.mutable_finished_at());
  }
  if (state == v1::JOB_STATE_INTERRUPTED) model::TimeToProto(now, job->job.mutable_finished_at());
  if (state == v1::JOB_STATE_FAILED) job->job.set_error(message);
  if (state == v1::JOB_STATE_QUEUED) job->job.set_error("");
  PersistJob(*job);
  v1::TrainingEvent e;
  e.mutable_state()->set_state(state);
  e.mutable_state()->set_message(message);
  job->log->Append(std::move(e));
}

void TrainerCore::MaybeCloseLog(const std::shared_ptr<JobRecord>& job) {
  if (job->ended && job->pending_pushes == 0) job->log->Close();
}

absl::StatusOr<TrainerCore::Prepared> TrainerCore::Prepare(const v1::TrainingConfig& config) const {
  return PrepareJob(config, options_, options_.group ? options_.group->world_size() : 1, 0);
}

absl::StatusOr<PreparedJob> PrepareJob(const v1::TrainingConfig& config,
                                       const TrainerOptions& options, int world_size, int rank) {
  PreparedJob p;
  LS_ASSIGN_OR_RETURN(p.config, ResolveConfig(config, options.default_threads));
  ResolvedConfig& rc = p.config;
  LS_ASSIGN_OR_RETURN(p.dataset, LoadJobDataset(&rc));
  const model::InputShape& in = rc.train.model.input;
  rc.train.dataset_name = p.dataset.source;
  rc.train.formulation = options.formulation;
  rc.train.precision = options.precision;
  rc.train.use_cuda_if_available = options.use_cuda_if_available;
  rc.train.snapshot_every_steps = options.snapshot_every_steps;
  rc.train.world_size = world_size;
  rc.train.rank = rank;
  LS_RETURN_IF_ERROR(ValidateTrainConfig(rc.train, p.dataset));
  rc.effective.mutable_input_shape()->set_height(in.height);
  rc.effective.mutable_input_shape()->set_width(in.width);
  rc.effective.mutable_input_shape()->set_channels(in.channels);
  rc.effective.set_threads(static_cast<uint32_t>(std::max(0, rc.train.threads)));
  p.plan = PlanTraining(rc.train, p.dataset.size());
  return p;
}

absl::StatusOr<v1::StartTrainingResponse> TrainerCore::StartTraining(
    const v1::TrainingConfig& config) {
  LS_ASSIGN_OR_RETURN(Prepared prepared, Prepare(config));
  const TrainingPlan& plan = prepared.plan;
  auto job = std::make_shared<JobRecord>();
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the trainer is shutting down");
  job->id = absl::StrFormat("job-%06d", next_job_++);
  job->config = std::move(prepared.config);
  job->dataset = std::move(prepared.dataset);
  job->log = NewLog(job->id, {});
  v1::Job& j = job->job;
  j.set_job_id(job->id);
  *j.mutable_config() = job->config.effective;
  model::TimeToProto(absl::Now(), j.mutable_created_at());
  j.set_total_steps(plan.total_steps);
  j.set_best_validation_loss(kNaN);
  j.set_train_images(plan.train_images);
  j.set_validation_images(plan.validation_images);
  j.set_world_size(static_cast<uint32_t>(std::max(1, job->config.train.world_size)));
  v1::StartTrainingResponse response;
  response.set_job_id(job->id);
  response.set_queue_position(static_cast<uint32_t>(queue_.size()));
  response.set_state(v1::JOB_STATE_QUEUED);
  SetState(job, v1::JOB_STATE_QUEUED,
           queue_.empty() && !running_
               ? "starting"
               : absl::StrCat(queue_.size() + (running_ ? 1 : 0), " job(s) ahead"));
  jobs_[job->id] = job;
  queue_.push_back(job);
  return response;
}

void TrainerCore::WorkerLoop() {
  while (true) {
    std::shared_ptr<JobRecord> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](TrainerCore* c)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->shutdown_ || !c->queue_.empty(); },
          this));
      if (shutdown_) return;
      job = queue_.front();
      queue_.pop_front();
      running_ = job;
      SetState(job, v1::JOB_STATE_RUNNING, "");
      LOG(INFO) << job->id << " started: model " << job->config.model_name << " ("
                << job->config.train.model.architecture << "), " << job->job.total_steps()
                << " steps";
    }
    RunJob(job);
    absl::MutexLock lock(&mu_);
    running_ = nullptr;
    job->ended = true;
    job->dataset = {};
    MaybeCloseLog(job);
    DropOldJobs();
  }
}

void TrainerCore::DropOldJobs() {
  size_t finished = 0;
  for (const auto& [id, j] : jobs_) finished += j->ended ? 1 : 0;
  for (auto it = jobs_.begin(); finished > options_.max_finished_jobs && it != jobs_.end();) {
    if (it->second->ended && it->second->log->closed()) {
      it = jobs_.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
}

void TrainerCore::RunJob(const std::shared_ptr<JobRecord>& job) {
  TrainingCallbacks cb;
  cb.should_stop = [job] { return job->stop.load(); };
  cb.on_step = [this, &job](const StepInfo& s) { OnStep(*job, s); };
  cb.on_epoch = [this, &job](const EpochInfo& ep) { OnEpoch(*job, ep); };
  cb.on_precision = [this, &job](const model::PrecisionChoice& c) { OnPrecision(*job, c); };
  cb.precision_timer = options_.precision_timer;
  cb.on_checkpoint = [this, &job](model::Checkpoint c) { return OnCheckpoint(job, std::move(c)); };
  cb.on_snapshot = [this, &job](uint64_t step, std::string bytes) {
    return jobs_store_->SaveSnapshot(job->id, step, bytes);
  };
  std::string resume;
  v1::TrainingConfig effective;
  {
    absl::MutexLock lock(&mu_);
    resume.swap(job->resume);
    effective = job->job.config();
  }
  if (options_.group == nullptr) {
    FinishJob(job, RunTraining(job->config.train, job->dataset, cb, resume));
    return;
  }
  absl::StatusOr<distributed::Collective*> group = options_.group->StartJob(job->id, effective);
  if (!group.ok()) {
    FinishJob(job, group.status());
    return;
  }
  cb.collective = *group;
  absl::StatusOr<TrainingResult> r = RunTraining(job->config.train, job->dataset, cb, resume);
  options_.group->EndJob(r.status());
  FinishJob(job, r);
}

void TrainerCore::OnStep(JobRecord& job, const StepInfo& s) {
  if (options_.on_step) options_.on_step(job.config.model_name, s);
  {
    absl::MutexLock lock(&mu_);
    job.job.set_epoch(s.epoch);
    job.job.set_step(s.step);
    job.job.set_last_train_loss(s.loss);
  }
  const absl::Time now = absl::Now();
  if (!(s.last_of_epoch || s.step - job.last_step_sent >= kStepEventEvery ||
        now - job.last_step_event >= kStepEventInterval)) {
    return;
  }
  job.last_step_event = now;
  job.last_step_sent = s.step;
  job.log->Append(StepEvent(s));
}

void TrainerCore::OnEpoch(JobRecord& job, const EpochInfo& ep) {
  if (options_.on_epoch) options_.on_epoch(job.config.model_name, ep);
  {
    absl::MutexLock lock(&mu_);
    job.job.set_epoch(ep.epoch);
    const double best = job.job.best_validation_loss();
    if (!std::isnan(ep.validation_loss) && !(ep.validation_loss >= best)) {
      job.job.set_best_validation_loss(ep.validation_loss);
    }
    PersistJob(job);
  }
  job.log->Append(EpochEvent(ep));
}

void TrainerCore::OnPrecision(JobRecord& job, const model::PrecisionChoice& c) {
  LOG(INFO) << job.id << " trains in " << model::DescribeChoice(c, "step");
  if (options_.on_precision) options_.on_precision(job.config.model_name, c);
  {
    absl::MutexLock lock(&mu_);
    job.job.set_precision(model::PrecisionName(c.chosen));
    PersistJob(job);
  }
  job.log->Append(PrecisionEvent(c));
}

absl::Status TrainerCore::OnCheckpoint(const std::shared_ptr<JobRecord>& job, model::Checkpoint c) {
  c.metadata.model_name = job->config.model_name;
  c.metadata.job_id = job->id;
  LS_ASSIGN_OR_RETURN(model::CheckpointMetadata stored, store_->Add(c));
  c.metadata = stored;
  {
    absl::MutexLock lock(&mu_);
    v1::ModelRef* ref = job->job.add_checkpoints();
    ref->set_name(stored.model_name);
    ref->set_version(stored.version);
    PersistJob(*job);
  }
  v1::TrainingEvent e;
  *e.mutable_checkpoint()->mutable_metadata() = model::CheckpointMetadataToProto(stored);
  job->log->Append(std::move(e));
  EnqueuePushes(job, c);
  return absl::OkStatus();
}

void TrainerCore::FinishJob(const std::shared_ptr<JobRecord>& job,
                            const absl::StatusOr<TrainingResult>& r) {
  absl::MutexLock lock(&mu_);
  job->job.set_step(r.ok() ? r->steps : job->job.step());
  if (!r.ok()) {
    LOG(WARNING) << job->id << " failed: " << r.status();
    SetState(job, v1::JOB_STATE_FAILED, r.status().ToString());
  } else if (r->stopped) {
    LOG(INFO) << job->id << " stopped after " << r->steps << " steps";
    SetState(job, v1::JOB_STATE_STOPPED,
             shutdown_ ? "trainer shutting down" : "stopped by request");
  } else {
    const std::string summary =
        absl::StrFormat("%d epochs, %d steps, %d checkpoints on %s", r->epochs_completed, r->steps,
                        r->checkpoints, r->device);
    LOG(INFO) << job->id << " succeeded: " << summary;
    SetState(job, v1::JOB_STATE_SUCCEEDED, summary);
  }
}

void TrainerCore::EnqueuePushes(const std::shared_ptr<JobRecord>& job, const model::Checkpoint& c) {
  std::vector<std::string> targets = options_.push_to;
  for (const std::string& t : job->config.push_to) {
    if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
  }
  if (targets.empty()) return;
  auto shared = std::make_shared<const model::Checkpoint>(c);
  absl::MutexLock lock(&mu_);
  if (shutdown_ || options_.pusher == nullptr) return;
  for (const std::string& t : targets) {
    std::unique_ptr<PushQueue>& q = push_queues_[t];
    if (!q) {
      PushQueue::Options po;
      po.target = t;
      po.pusher = options_.pusher.get();
      po.backoff = options_.backoff;
      po.wait = [this](absl::Duration d) { return Wait(d); };
      q = std::make_unique<PushQueue>(std::move(po));
    }
    ++job->pending_pushes;
    q->Add(PushQueue::Task{shared, job->log, [this, job](const absl::Status&) { PushDone(job); }});
  }
}

void TrainerCore::PushDone(const std::shared_ptr<JobRecord>& job) {
  absl::MutexLock lock(&mu_);
  --job->pending_pushes;
  MaybeCloseLog(job);
}

absl::StatusOr<v1::StopTrainingResponse> TrainerCore::StopTraining(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  }
  std::shared_ptr<JobRecord> job = it->second;
  v1::StopTrainingResponse response;
  if (job->job.state() == v1::JOB_STATE_QUEUED) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), job), queue_.end());
    SetState(job, v1::JOB_STATE_STOPPED, "stopped by request before it started");
    job->ended = true;
    job->dataset = {};
    MaybeCloseLog(job);
  } else if (job->job.state() == v1::JOB_STATE_RUNNING) {
    job->stop = true;
  }
  response.set_state(job->job.state());
  return response;
}

absl::StatusOr<v1::ResumeTrainingResponse> TrainerCore::ResumeTraining(const std::string& job_id) {
  v1::TrainingConfig config;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
    config = it->second->job.config();
  }
  absl::StatusOr<Prepared> prepared = Prepare(config);
  if (!prepared.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        job_id, " cannot resume: its config no longer prepares: ", prepared.status().message()));
  }
  absl::StatusOr<JobStore::Snapshot> snapshot = jobs_store_->LoadSnapshot(job_id);
  if (!snapshot.ok() && !absl::IsNotFound(snapshot.status())) {
    LOG(WARNING) << job_id << ": snapshot unusable, resuming from step 0: " << snapshot.status();
  }
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the trainer is shutting down");
  std::shared_ptr<JobRecord> job = jobs_[job_id];
  const v1::JobState state = job->job.state();
  if (state != v1::JOB_STATE_INTERRUPTED && state != v1::JOB_STATE_FAILED &&
      state != v1::JOB_STATE_STOPPED) {
    return absl::FailedPreconditionError(
        absl::StrCat(job_id, " is ", v1::JobState_Name(state),
                     "; only interrupted, failed or stopped jobs can be resumed"));
  }
  if (!job->ended || job->pending_pushes > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(job_id, " is still pushing its checkpoints; try again when its watch ends"));
  }
  const uint32_t world = static_cast<uint32_t>(std::max(1, prepared->config.train.world_size));
  const uint32_t old_world = std::max<uint32_t>(1, job->job.world_size());
  const uint64_t batch = static_cast<uint64_t>(prepared->config.train.batch_size);
  v1::ResumeTrainingResponse response;
  response.set_resume_step(snapshot.ok() ? snapshot->step : 0);
  response.set_world_size(world);
  response.set_global_batch_size(batch * world);
  response.set_queue_position(static_cast<uint32_t>(queue_.size()));
  response.set_state(v1::JOB_STATE_QUEUED);
  response.set_message(absl::StrCat(
      snapshot.ok() ? absl::StrCat("resuming from step ", snapshot->step)
                    : std::string("restarting from step 0 (no snapshot)"),
      " on ", world, world == 1 ? " rank" : " ranks",
      world == old_world ? absl::StrCat(", global batch ", batch * world)
                         : absl::StrCat(" (was ", old_world, "): global batch ", batch * world,
                                        " (was ", batch * old_world, ")")));
  job->config = std::move(prepared->config);
  job->dataset = std::move(prepared->dataset);
  job->resume = snapshot.ok() ? std::move(snapshot->bytes) : std::string();
  job->stop = false;
  job->ended = false;
  job->last_step_sent = 0;
  job->log = NewLog(job_id, job->log->Snapshot());
  job->job.set_resumed_from_step(response.resume_step());
  job->job.set_resumes(job->job.resumes() + 1);
  job->job.set_world_size(world);
  job->job.set_total_steps(prepared->plan.total_steps);
  job->job.clear_finished_at();
  SetState(job, v1::JOB_STATE_QUEUED, response.message());
  LOG(INFO) << job_id << ": " << response.message();
  queue_.push_back(job);
  return response;
}

absl::StatusOr<v1::Job> TrainerCore::GetJob(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  return it->second->job;
}

v1::ListJobsResponse TrainerCore::ListJobs(const v1::ListJobsRequest& request) const {
  std::set<int> states(request.states().begin(), request.states().end());
  v1::ListJobsResponse response;
  absl::MutexLock lock(&mu_);
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (!states.empty() && !states.count(it->second->job.state())) continue;
    *response.add_jobs() = it->second->job;
  }
  return response;
}

absl::StatusOr<v1::ListCheckpointsResponse> TrainerCore::ListCheckpoints(
    const v1::ListCheckpointsRequest& request) const {
  absl::StatusOr<std::vector<model::CheckpointMetadata>> list = store_->List(request.model_name());
  if (!list.ok()) {
    if (list.status().code() == absl::StatusCode::kInvalidArgument) {
      return Field("model_name", list.status().message());
    }
    return list.status();
  }
  std::sort(list->begin(), list->end(), [](const auto& a, const auto& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.version > b.version;
  });
  v1::ListCheckpointsResponse response;
  for (const auto& m : *list) *response.add_checkpoints() = model::CheckpointMetadataToProto(m);
  return response;
}

absl::StatusOr<model::Checkpoint> TrainerCore::GetCheckpoint(const v1::ModelRef& ref) const {
  const std::string name = ref.name().empty() ? kDefaultModelName : ref.name();
  if (absl::Status s = model::ValidateModelName(name); !s.ok()) {
    return Field("model.name", s.message());
  }
  return store_->Get(name, ref.version());
}

absl::StatusOr<std::shared_ptr<EventLog>> TrainerCore::Events(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  if (job_id.empty()) {
    if (!running_) return absl::NotFoundError("no job is running (name a job_id)");
    return running_->log;
  }
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  return it->second->log;
}

}  // namespace latentsearch::trainer

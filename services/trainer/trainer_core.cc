#include "services/trainer/trainer_core.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/data/load.h"
#include "common/model/checkpoint_proto.h"

namespace latentsearch::trainer {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

absl::Status Field(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted;
}

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

}  // namespace

absl::StatusOr<ResolvedConfig> ResolveConfig(const v1::TrainingConfig& in, int default_threads) {
  ResolvedConfig r;
  r.effective = in;
  v1::TrainingConfig& e = r.effective;
  TrainConfig& t = r.train;

  const v1::DatasetSpec& ds = in.dataset();
  switch (ds.source_case()) {
    case v1::DatasetSpec::kCifar10Dir:
      r.dataset.kind = data::DatasetKind::kCifar10;
      r.dataset.path = ds.cifar10_dir();
      break;
    case v1::DatasetSpec::kIdxDir:
      r.dataset.kind = data::DatasetKind::kIdx;
      r.dataset.path = ds.idx_dir();
      break;
    case v1::DatasetSpec::kImageFolder:
      r.dataset.kind = data::DatasetKind::kFolder;
      r.dataset.path = ds.image_folder();
      break;
    case v1::DatasetSpec::SOURCE_NOT_SET:
      return Field("dataset",
                   "no source; set dataset.cifar10_dir, dataset.idx_dir or "
                   "dataset.image_folder");
  }
  if (r.dataset.path.empty()) return Field("dataset", "the directory is empty");
  switch (ds.split()) {
    case v1::SPLIT_UNSPECIFIED:
    case v1::SPLIT_TRAIN:
      r.dataset.split = data::Split::kTrain;
      e.mutable_dataset()->set_split(v1::SPLIT_TRAIN);
      break;
    case v1::SPLIT_TEST:
      r.dataset.split = data::Split::kTest;
      break;
    case v1::SPLIT_ALL:
      r.dataset.split = data::Split::kAll;
      break;
    default:
      return Field("dataset.split", absl::StrCat(ds.split(), " is not a Split value"));
  }
  r.max_images = ds.max_images();

  const v1::InputShape& shape = in.input_shape();
  if (shape.height() > 4096 || shape.width() > 4096) {
    return Field("input_shape", "height and width must be 1..4096");
  }
  if (shape.channels() != 0 && shape.channels() != 1 && shape.channels() != 3) {
    return Field("input_shape", absl::StrCat(shape.channels(), " channels; allowed 1 or 3"));
  }
  r.explicit_input = shape.height() || shape.width() || shape.channels();
  t.model.input = {static_cast<int>(shape.height()), static_cast<int>(shape.width()),
                   static_cast<int>(shape.channels())};
  if (r.dataset.kind == data::DatasetKind::kFolder) {
    r.dataset.split = data::Split::kAll;
    if (shape.height() == 0 || shape.width() == 0) {
      return Field("input_shape", "required (height and width) for an image folder");
    }
    if (t.model.input.channels == 0) t.model.input.channels = 3;
    r.dataset.folder.height = t.model.input.height;
    r.dataset.folder.width = t.model.input.width;
    r.dataset.folder.channels = t.model.input.channels;
  }

  r.model_name = in.model_name().empty() ? "default" : in.model_name();
  if (absl::Status s = model::ValidateModelName(r.model_name); !s.ok()) {
    return Field("model_name", s.message());
  }
  e.set_model_name(r.model_name);

  t.model.architecture =
      in.architecture().empty() ? model::kDefaultArchitecture : in.architecture();
  const std::vector<std::string> names = model::ArchitectureNames();
  if (std::find(names.begin(), names.end(), t.model.architecture) == names.end()) {
    return Field("architecture", absl::StrCat("unknown architecture '", t.model.architecture,
                                              "'; known: ", absl::StrJoin(names, ", ")));
  }
  e.set_architecture(t.model.architecture);
  if (in.latent_size() > static_cast<uint32_t>(model::kMaxLatentSize)) {
    return Field("latent_size",
                 absl::StrCat(in.latent_size(), " is outside 1..", model::kMaxLatentSize));
  }
  t.model.latent_size = in.latent_size() == 0
                            ? model::WithDefaults({t.model.architecture, 0, {}}).latent_size
                            : static_cast<int>(in.latent_size());
  e.set_latent_size(t.model.latent_size);

  if (in.epochs() > 10000) return Field("epochs", absl::StrCat(in.epochs(), " exceeds 10000"));
  t.epochs = in.epochs() == 0 ? 30 : static_cast<int>(in.epochs());
  e.set_epochs(t.epochs);
  if (in.batch_size() > 4096) {
    return Field("batch_size", absl::StrCat(in.batch_size(), " exceeds 4096"));
  }
  t.batch_size = in.batch_size() == 0 ? 32 : static_cast<int>(in.batch_size());
  e.set_batch_size(t.batch_size);

  switch (in.optimizer()) {
    case v1::OPTIMIZER_UNSPECIFIED:
    case v1::OPTIMIZER_ADAMAX:
      t.optimizer = OptimizerKind::kAdamax;
      e.set_optimizer(v1::OPTIMIZER_ADAMAX);
      break;
    case v1::OPTIMIZER_ADAM:
      t.optimizer = OptimizerKind::kAdam;
      break;
    case v1::OPTIMIZER_ADAMW:
      t.optimizer = OptimizerKind::kAdamW;
      break;
    default:
      return Field("optimizer", absl::StrCat(in.optimizer(), " is not an Optimizer value"));
  }
  if (!std::isfinite(in.learning_rate()) || in.learning_rate() < 0) {
    return Field("learning_rate",
                 absl::StrCat(in.learning_rate(), " must be finite and > 0 (0 = 1e-3)"));
  }
  t.learning_rate = in.learning_rate() == 0 ? 1e-3 : in.learning_rate();
  e.set_learning_rate(t.learning_rate);
  if (!std::isfinite(in.weight_decay()) || in.weight_decay() < 0) {
    return Field("weight_decay", absl::StrCat(in.weight_decay(), " must be finite and >= 0"));
  }
  t.weight_decay = in.weight_decay();
  t.validation_fraction = in.has_validation_fraction() ? in.validation_fraction() : 0.1;
  if (!(t.validation_fraction >= 0 && t.validation_fraction <= 0.5)) {
    return Field("validation_fraction",
                 absl::StrCat(t.validation_fraction, " is outside [0, 0.5]"));
  }
  e.set_validation_fraction(t.validation_fraction);
  t.seed = in.seed();
  t.augment = in.augment();
  switch (in.objective()) {
    case v1::OBJECTIVE_UNSPECIFIED:
    case v1::OBJECTIVE_RECONSTRUCTION:
      t.objective = Objective::kReconstruction;
      e.set_objective(v1::OBJECTIVE_RECONSTRUCTION);
      break;
    case v1::OBJECTIVE_DENOISING:
      t.objective = Objective::kDenoising;
      break;
    case v1::OBJECTIVE_CONTRASTIVE:
      t.objective = Objective::kContrastive;
      break;
    default:
      return Field("objective",
                   absl::StrCat(in.objective(),
                                " is not an Objective value; allowed OBJECTIVE_RECONSTRUCTION, "
                                "OBJECTIVE_DENOISING, OBJECTIVE_CONTRASTIVE"));
  }
  if (!std::isfinite(in.reconstruction_weight()) || in.reconstruction_weight() < 0) {
    return Field("reconstruction_weight",
                 absl::StrCat(in.reconstruction_weight(), " must be finite and >= 0"));
  }
  t.reconstruction_weight = in.reconstruction_weight();
  if (!std::isfinite(in.temperature()) || in.temperature() < 0 || in.temperature() > 10) {
    return Field("temperature", absl::StrCat(in.temperature(), " is outside (0, 10] (0 = 0.2)"));
  }
  t.temperature = in.temperature() == 0 ? 0.2 : in.temperature();
  e.set_temperature(t.temperature);
  switch (in.lr_schedule()) {
    case v1::LR_SCHEDULE_UNSPECIFIED:
    case v1::LR_SCHEDULE_CONSTANT:
      t.lr_schedule = LrSchedule::kConstant;
      e.set_lr_schedule(v1::LR_SCHEDULE_CONSTANT);
      break;
    case v1::LR_SCHEDULE_WARMUP_COSINE:
      t.lr_schedule = LrSchedule::kWarmupCosine;
      break;
    default:
      return Field("lr_schedule", absl::StrCat(in.lr_schedule(),
                                               " is not an LrSchedule value; allowed "
                                               "LR_SCHEDULE_CONSTANT, "
                                               "LR_SCHEDULE_WARMUP_COSINE"));
  }
  t.warmup_fraction = in.has_warmup_fraction() ? in.warmup_fraction() : 0.05;
  if (!(t.warmup_fraction >= 0 && t.warmup_fraction <= 0.5)) {
    return Field("warmup_fraction", absl::StrCat(t.warmup_fraction, " is outside [0, 0.5]"));
  }
  e.set_warmup_fraction(t.warmup_fraction);
  // Views: absent fields keep AugmentOptions::SimClr(); ranges are checked
  // (for contrastive jobs) by ValidateTrainConfig.
  const v1::ViewAugmentation& views = in.views();
  AugmentOptions& v = t.views;
  if (views.has_min_crop_scale()) v.min_scale = views.min_crop_scale();
  if (views.has_flip_probability()) v.flip_probability = views.flip_probability();
  if (views.has_jitter_probability()) v.jitter_probability = views.jitter_probability();
  if (views.has_jitter_strength()) {
    v.brightness = v.contrast = v.saturation = views.jitter_strength();
  }
  if (views.has_grayscale_probability()) {
    v.grayscale_probability = views.grayscale_probability();
  }
  if (t.objective == Objective::kContrastive) {
    v1::ViewAugmentation* ev = e.mutable_views();
    ev->set_min_crop_scale(v.min_scale);
    ev->set_flip_probability(v.flip_probability);
    ev->set_jitter_probability(v.jitter_probability);
    ev->set_jitter_strength(v.brightness);
    ev->set_grayscale_probability(v.grayscale_probability);
  }
  switch (in.embedding()) {
    case v1::EMBEDDING_KIND_UNSPECIFIED:
      t.embedding =
          t.objective == Objective::kContrastive ? Embedding::kWhitened : Embedding::kLatent;
      break;
    case v1::EMBEDDING_KIND_LATENT:
      t.embedding = Embedding::kLatent;
      break;
    case v1::EMBEDDING_KIND_WHITENED:
      t.embedding = Embedding::kWhitened;
      break;
    default:
      return Field("embedding", absl::StrCat(in.embedding(),
                                             " is not an EmbeddingKind value; allowed "
                                             "EMBEDDING_KIND_LATENT, EMBEDDING_KIND_WHITENED"));
  }
  e.set_embedding(t.embedding == Embedding::kWhitened ? v1::EMBEDDING_KIND_WHITENED
                                                      : v1::EMBEDDING_KIND_LATENT);
  // A model trained on flipped images also averages each image's latent
  // with its mirror image's.
  t.whitening_mirror =
      t.objective == Objective::kContrastive ? t.views.flip_probability > 0 : t.augment;
  t.eval_images = in.eval_images() == 0 ? 2000 : in.eval_images();
  e.set_eval_images(static_cast<uint32_t>(t.eval_images));
  switch (in.checkpoint_policy()) {
    case v1::CHECKPOINT_POLICY_UNSPECIFIED:
    case v1::CHECKPOINT_POLICY_BEST_VALIDATION:
      t.checkpoint_policy = CheckpointPolicy::kBestValidation;
      e.set_checkpoint_policy(v1::CHECKPOINT_POLICY_BEST_VALIDATION);
      break;
    case v1::CHECKPOINT_POLICY_EVERY_EPOCH:
      t.checkpoint_policy = CheckpointPolicy::kEveryEpoch;
      break;
    case v1::CHECKPOINT_POLICY_END:
      t.checkpoint_policy = CheckpointPolicy::kEnd;
      break;
    default:
      return Field("checkpoint_policy",
                   absl::StrCat(in.checkpoint_policy(), " is not a CheckpointPolicy value"));
  }
  for (const std::string& target : in.push_to()) {
    if (target.empty()) return Field("push_to", "empty address");
    r.push_to.push_back(target);
  }
  t.max_steps = in.max_steps();
  if (!std::isfinite(in.time_budget_seconds()) || in.time_budget_seconds() < 0) {
    return Field("time_budget_seconds",
                 absl::StrCat(in.time_budget_seconds(), " must be finite and >= 0"));
  }
  t.time_budget_seconds = in.time_budget_seconds();
  if (in.threads() > 1024) return Field("threads", absl::StrCat(in.threads(), " exceeds 1024"));
  t.threads = in.threads() == 0 ? default_threads : static_cast<int>(in.threads());
  return r;
}

// ---------------------------------------------------------------------------
// Jobs and pushes.

struct TrainerCore::JobRecord {
  std::string id;
  v1::Job job;  // Guarded by TrainerCore::mu_.
  ResolvedConfig config;
  data::Dataset dataset;  // Released once the job has run.
  std::shared_ptr<EventLog> log;
  std::atomic<bool> stop{false};
  int pending_pushes = 0;  // Guarded by TrainerCore::mu_.
  bool ended = false;      // Guarded by TrainerCore::mu_.
};

struct TrainerCore::PushTask {
  std::shared_ptr<JobRecord> job;
  std::shared_ptr<const model::Checkpoint> checkpoint;
};

// One thread per encoder address, pushing its checkpoints in order, so a
// dead encoder's retries never delay the others.
class TrainerCore::PushQueue {
 public:
  PushQueue(TrainerCore* core, std::string target)
      : core_(core), target_(std::move(target)), thread_([this] { Loop(); }) {}
  ~PushQueue() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }
  void Add(PushTask task) {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }

 private:
  void Loop() {
    while (true) {
      PushTask task;
      std::deque<PushTask> dropped;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](PushQueue* q)
                 ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) { return q->stop_ || !q->tasks_.empty(); },
            this));
        if (stop_) dropped.swap(tasks_);
        if (!stop_) {
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
      }
      if (!dropped.empty() || !task.job) {
        // Shutting down: pushes not yet started are abandoned (the
        // checkpoints stay in the store).
        for (PushTask& t : dropped) core_->PushDone(t.job);
        return;
      }
      Run(task);
      core_->PushDone(task.job);
    }
  }

  void Run(const PushTask& task) {
    const BackoffPolicy& b = core_->options_.backoff;
    const model::CheckpointMetadata& m = task.checkpoint->metadata;
    absl::Duration delay = b.initial;
    for (int attempt = 1;; ++attempt) {
      absl::Status s = core_->options_.pusher->Push(target_, *task.checkpoint);
      const bool last = s.ok() || !Retryable(s.code()) || attempt >= b.max_attempts;
      v1::TrainingEvent e;
      v1::PushEvent* p = e.mutable_push();
      p->set_target(target_);
      p->mutable_model()->set_name(m.model_name);
      p->mutable_model()->set_version(m.version);
      p->set_attempt(attempt);
      p->set_ok(s.ok());
      if (!s.ok()) {
        p->set_error_code(CodeName(s.code()));
        p->set_message(last && !s.ok() && Retryable(s.code())
                           ? absl::StrCat(s.message(), " (giving up after ", attempt, " attempts)")
                           : std::string(s.message()));
      }
      p->set_final(last);
      if (!last) {
        p->set_message(
            absl::StrCat(p->message(), " (retrying in ", absl::FormatDuration(delay), ")"));
      }
      task.job->log->Append(std::move(e));
      if (last) return;
      if (!core_->Wait(delay)) {
        v1::TrainingEvent c;
        v1::PushEvent* cp = c.mutable_push();
        cp->set_target(target_);
        *cp->mutable_model() = p->model();
        cp->set_attempt(attempt);
        cp->set_ok(false);
        cp->set_error_code(CodeName(absl::StatusCode::kCancelled));
        cp->set_message("trainer shutting down; push abandoned");
        cp->set_final(true);
        task.job->log->Append(std::move(c));
        return;
      }
      delay = std::min(b.max, delay * b.multiplier);
    }
  }

  TrainerCore* const core_;
  const std::string target_;
  absl::Mutex mu_;
  std::deque<PushTask> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
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
  core->worker_ = std::thread([c = core.get()] { c->WorkerLoop(); });
  return core;
}

TrainerCore::~TrainerCore() { Shutdown(); }

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
  if (state == v1::JOB_STATE_FAILED) job->job.set_error(message);
  v1::TrainingEvent e;
  e.mutable_state()->set_state(state);
  e.mutable_state()->set_message(message);
  job->log->Append(std::move(e));
}

void TrainerCore::MaybeCloseLog(const std::shared_ptr<JobRecord>& job) {
  if (job->ended && job->pending_pushes == 0) job->log->Close();
}

absl::StatusOr<v1::StartTrainingResponse> TrainerCore::StartTraining(
    const v1::TrainingConfig& config) {
  LS_ASSIGN_OR_RETURN(ResolvedConfig rc, ResolveConfig(config, options_.default_threads));
  absl::StatusOr<data::Dataset> loaded = data::LoadDataset(rc.dataset);
  if (!loaded.ok()) {
    return Field("dataset",
                 absl::StrCat("cannot read '", rc.dataset.path, "': ", loaded.status().message()));
  }
  data::Dataset dataset = *std::move(loaded);
  if (rc.max_images > 0 && rc.max_images < dataset.size()) {
    std::vector<size_t> keep = data::SampleIndices(dataset.size(), rc.max_images, rc.train.seed);
    std::sort(keep.begin(), keep.end());
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
    dataset = std::move(subset);
  }
  model::InputShape& in = rc.train.model.input;
  if (in.height == 0) in.height = dataset.height;
  if (in.width == 0) in.width = dataset.width;
  if (in.channels == 0) in.channels = dataset.channels;
  if (absl::Status s = model::ValidateSpec(rc.train.model); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.message(), rc.explicit_input ? ""
                                                    : " (the data set's own shape; set input_shape "
                                                      "to resize)"));
  }
  if (in != model::InputShape{dataset.height, dataset.width, dataset.channels}) {
    LS_ASSIGN_OR_RETURN(dataset, ConvertDataset(dataset, in));
  }
  rc.train.dataset_name = dataset.source;
  rc.train.formulation = options_.formulation;
  rc.train.precision = options_.precision;
  rc.train.use_cuda_if_available = options_.use_cuda_if_available;
  LS_RETURN_IF_ERROR(ValidateTrainConfig(rc.train, dataset));
  rc.effective.mutable_input_shape()->set_height(in.height);
  rc.effective.mutable_input_shape()->set_width(in.width);
  rc.effective.mutable_input_shape()->set_channels(in.channels);
  rc.effective.set_threads(static_cast<uint32_t>(std::max(0, rc.train.threads)));

  const TrainingPlan plan = PlanTraining(rc.train, dataset.size());
  auto job = std::make_shared<JobRecord>();
  absl::MutexLock lock(&mu_);
  if (shutdown_) return absl::UnavailableError("the trainer is shutting down");
  job->id = absl::StrFormat("job-%06d", next_job_++);
  job->config = std::move(rc);
  job->dataset = std::move(dataset);
  job->log = std::make_shared<EventLog>(job->id);
  v1::Job& j = job->job;
  j.set_job_id(job->id);
  *j.mutable_config() = job->config.effective;
  model::TimeToProto(absl::Now(), j.mutable_created_at());
  j.set_total_steps(plan.total_steps);
  j.set_best_validation_loss(kNaN);
  j.set_train_images(plan.train_images);
  j.set_validation_images(plan.validation_images);
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
    }
    RunJob(job);
    absl::MutexLock lock(&mu_);
    running_ = nullptr;
    job->ended = true;
    job->dataset = {};
    MaybeCloseLog(job);
    // Forget the oldest finished jobs beyond the limit.
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
}

void TrainerCore::RunJob(const std::shared_ptr<JobRecord>& job) {
  absl::Time last_step_event = absl::InfinitePast();
  uint64_t last_step_sent = 0;
  TrainingCallbacks cb;
  cb.should_stop = [job] { return job->stop.load(); };
  cb.on_step = [&](const StepInfo& s) {
    if (options_.on_step) options_.on_step(job->config.model_name, s);
    {
      absl::MutexLock lock(&mu_);
      job->job.set_epoch(s.epoch);
      job->job.set_step(s.step);
      job->job.set_last_train_loss(s.loss);
    }
    const absl::Time now = absl::Now();
    if (!(s.last_of_epoch || s.step - last_step_sent >= 20 ||
          now - last_step_event >= absl::Milliseconds(200))) {
      return;
    }
    last_step_event = now;
    last_step_sent = s.step;
    v1::TrainingEvent e;
    v1::StepEvent* p = e.mutable_step();
    p->set_epoch(s.epoch);
    p->set_step(s.step);
    p->set_total_steps(s.total_steps);
    p->set_loss(s.loss);
    p->set_images_per_second(s.images_per_second);
    p->set_eta_seconds(s.eta_seconds);
    job->log->Append(std::move(e));
  };
  cb.on_epoch = [&](const EpochInfo& ep) {
    if (options_.on_epoch) options_.on_epoch(job->config.model_name, ep);
    {
      absl::MutexLock lock(&mu_);
      job->job.set_epoch(ep.epoch);
      const double best = job->job.best_validation_loss();
      if (!std::isnan(ep.validation_loss) && !(ep.validation_loss >= best)) {
        job->job.set_best_validation_loss(ep.validation_loss);
      }
    }
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
    job->log->Append(std::move(e));
  };
  cb.on_checkpoint = [&](model::Checkpoint c) -> absl::Status {
    c.metadata.model_name = job->config.model_name;
    c.metadata.job_id = job->id;
    LS_ASSIGN_OR_RETURN(model::CheckpointMetadata stored, store_->Add(c));
    c.metadata = stored;
    {
      absl::MutexLock lock(&mu_);
      v1::ModelRef* ref = job->job.add_checkpoints();
      ref->set_name(stored.model_name);
      ref->set_version(stored.version);
    }
    v1::TrainingEvent e;
    *e.mutable_checkpoint()->mutable_metadata() = model::CheckpointMetadataToProto(stored);
    job->log->Append(std::move(e));
    EnqueuePushes(job, c);
    return absl::OkStatus();
  };

  absl::StatusOr<TrainingResult> r = RunTraining(job->config.train, job->dataset, cb);
  absl::MutexLock lock(&mu_);
  if (!r.ok()) {
    SetState(job, v1::JOB_STATE_FAILED, r.status().ToString());
  } else if (r->stopped) {
    SetState(job, v1::JOB_STATE_STOPPED,
             shutdown_ ? "trainer shutting down" : "stopped by request");
  } else {
    SetState(job, v1::JOB_STATE_SUCCEEDED,
             absl::StrFormat("%d epochs, %d steps, %d checkpoints on %s", r->epochs_completed,
                             r->steps, r->checkpoints, r->device));
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
    if (!q) q = std::make_unique<PushQueue>(this, t);
    ++job->pending_pushes;
    q->Add(PushTask{job, shared});
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
  const std::string name = ref.name().empty() ? "default" : ref.name();
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

// The trainer's logic without gRPC: a FIFO job queue run by one worker
// thread (one job at a time; later jobs wait as QUEUED, as trainer.proto
// says), a per-job event log, the checkpoint store, and pushes of every
// stored checkpoint to the encoders with retries and exponential backoff
// (push_queue.h). The proto → TrainConfig mapping is
// training_config_proto.h.
//
// Jobs survive a restart: every job's record, events and training
// snapshots live under <data_dir>/jobs/<job id>/ (job_store.h). At Create a
// job found queued or running (the previous process ended without ending
// it) becomes JOB_STATE_INTERRUPTED; ResumeTraining continues an
// interrupted, failed or stopped job from its newest snapshot.
//
// Speaks the v1 protobuf *messages* (TrainingConfig, Job, TrainingEvent,
// CheckpointMetadata) as its data types; no gRPC. Pushing goes through the
// CheckpointPusher interface (a gRPC client in push_client.h, a fake in
// tests).
//
// Thread-safety: every method is thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_TRAINER_CORE_H_
#define LATENTSEARCH_SERVICES_TRAINER_TRAINER_CORE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/data/dataset.h"
#include "common/data/load.h"
#include "common/model/checkpoint.h"
#include "latentsearch/v1/trainer.pb.h"
#include "services/trainer/distributed/job_group.h"
#include "services/trainer/event_log.h"
#include "services/trainer/job_store.h"
#include "services/trainer/push_queue.h"
#include "services/trainer/training.h"
#include "services/trainer/training_config_proto.h"

namespace latentsearch::trainer {

struct TrainerOptions {
  // Checkpoints live under <data_dir>/checkpoints/<model name>/. Required.
  std::string data_dir;
  // Encoders every stored checkpoint is pushed to (plus each job's own
  // TrainingConfig.push_to).
  std::vector<std::string> push_to;
  // Required when any push target is configured.
  std::shared_ptr<CheckpointPusher> pusher;
  BackoffPolicy backoff;
  // Waits between push attempts; returns false when the wait was cut short
  // by Shutdown. Default: a wait on the core's shutdown signal. Tests pass
  // one that records the durations and returns at once.
  std::function<bool(absl::Duration)> backoff_wait;
  // Intra-op threads when a config asks for 0; 0 = the cores.
  int default_threads = 0;
  // How seed's transposed convolutions run, and the training precision
  // (the proto has no field for them yet: they are trainer-wide flags).
  // kAuto (the default) times each job's trial steps (TrainConfig.
  // precision) and reports the choice in the job's events (PrecisionEvent)
  // and Job.precision.
  model::Formulation formulation = model::Formulation::kPhaseSplit;
  Precision precision = Precision::kAuto;
  // Times kAuto's trial steps; nullptr = model::WallTimer(). Tests inject
  // fakes.
  model::PrecisionTimer precision_timer;
  bool use_cuda_if_available = true;
  // Finished jobs kept in memory (oldest dropped first; they stay on disk
  // and come back after a restart).
  size_t max_finished_jobs = 1000;
  // A training snapshot (for ResumeTraining) at every epoch end and every
  // this many steps; 0 = at epoch ends only.
  uint64_t snapshot_every_steps = 100;
  // Every training step and epoch of every job, with the job's model name,
  // on the job's thread (metrics). Must be quick and thread-safe; nullptr =
  // none.
  std::function<void(const std::string& model_name, const StepInfo&)> on_step;
  std::function<void(const std::string& model_name, const EpochInfo&)> on_epoch;
  // Each job's precision choice, once per start (metrics).
  std::function<void(const std::string& model_name, const model::PrecisionChoice&)> on_precision;
  // Data parallelism (rank 0 of a group): every job runs on the group's
  // ranks; batch_size is per rank. nullptr = this process alone.
  std::shared_ptr<distributed::JobGroupSource> group;
};

// A job's config resolved against the trainer's options and its data set
// loaded and converted, ready to train as `rank` of `world_size` (shared by
// TrainerCore and the other ranks of a group, distributed/follower.h).
// INVALID_ARGUMENT naming the field, as StartTraining.
struct PreparedJob {
  ResolvedConfig config;
  data::Dataset dataset;
  TrainingPlan plan;
};
absl::StatusOr<PreparedJob> PrepareJob(const v1::TrainingConfig& config,
                                       const TrainerOptions& options, int world_size, int rank);

class TrainerCore {
 public:
  // Opens the checkpoint store and starts the worker. INVALID_ARGUMENT for
  // missing data_dir or push targets without a pusher.
  static absl::StatusOr<std::unique_ptr<TrainerCore>> Create(const TrainerOptions& options);
  // Shutdown().
  ~TrainerCore();

  // Validates the config, reads the data set (INVALID_ARGUMENT naming the
  // field for any problem, including an unreadable or empty data set), and
  // queues the job. The data set stays in memory until the job has run.
  absl::StatusOr<v1::StartTrainingResponse> StartTraining(const v1::TrainingConfig& config);
  // Running: stops at the next step (answers RUNNING; the job then ends
  // STOPPED). Queued: removed, STOPPED at once. Finished: no-op.
  // NOT_FOUND for an unknown id.
  absl::StatusOr<v1::StopTrainingResponse> StopTraining(const std::string& job_id);
  // Queues an interrupted, failed or stopped job again, to continue from
  // its newest snapshot (from step 0 without one). NOT_FOUND for an unknown
  // id; FAILED_PRECONDITION for a job in another state or whose data set
  // no longer loads as before.
  absl::StatusOr<v1::ResumeTrainingResponse> ResumeTraining(const std::string& job_id);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id) const;
  // Newest first.
  v1::ListJobsResponse ListJobs(const v1::ListJobsRequest& request) const;
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints(
      const v1::ListCheckpointsRequest& request) const;
  // NOT_FOUND / DATA_LOSS as CheckpointStore::Get.
  absl::StatusOr<model::Checkpoint> GetCheckpoint(const v1::ModelRef& ref) const;
  // A job's event log; "" = the running job. NOT_FOUND when unknown (or
  // when "" and nothing runs). The log closes when the job has ended and
  // its pushes have finished.
  absl::StatusOr<std::shared_ptr<EventLog>> Events(const std::string& job_id) const;

  // Stops the running job, drops the queued ones (STOPPED), cancels push
  // retries and joins every thread. Idempotent.
  void Shutdown();

 private:
  struct JobRecord;

  using Prepared = PreparedJob;

  explicit TrainerCore(const TrainerOptions& options);
  absl::StatusOr<Prepared> Prepare(const v1::TrainingConfig& config) const;
  // Reads the job store: every job back into memory, interrupted ones
  // marked so.
  absl::Status LoadJobs();
  // A log for `job_id` that persists every event (continuing `history`).
  std::shared_ptr<EventLog> NewLog(const std::string& job_id,
                                   std::vector<v1::TrainingEvent> history);
  // Writes the job's record; a failure is logged (the job goes on).
  void PersistJob(const JobRecord& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WorkerLoop();
  void RunJob(const std::shared_ptr<JobRecord>& job);
  // RunJob's training callbacks: progress into the job record and its log.
  void OnStep(JobRecord& job, const StepInfo& step);
  void OnEpoch(JobRecord& job, const EpochInfo& epoch);
  void OnPrecision(JobRecord& job, const model::PrecisionChoice& choice);
  absl::Status OnCheckpoint(const std::shared_ptr<JobRecord>& job, model::Checkpoint c);
  // The job's final state from RunTraining's result.
  void FinishJob(const std::shared_ptr<JobRecord>& job, const absl::StatusOr<TrainingResult>& r);
  // Forgets the oldest finished jobs beyond options_.max_finished_jobs.
  void DropOldJobs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EnqueuePushes(const std::shared_ptr<JobRecord>& job, const model::Checkpoint& c);
  void PushDone(const std::shared_ptr<JobRecord>& job);
  void MaybeCloseLog(const std::shared_ptr<JobRecord>& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetState(const std::shared_ptr<JobRecord>& job, v1::JobState state,
                const std::string& message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Wait(absl::Duration d);

  const TrainerOptions options_;
  std::unique_ptr<model::CheckpointStore> store_;
  std::unique_ptr<JobStore> jobs_store_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<JobRecord>> jobs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<JobRecord>> queue_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<JobRecord> running_ ABSL_GUARDED_BY(mu_);
  uint64_t next_job_ ABSL_GUARDED_BY(mu_) = 1;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<PushQueue>> push_queues_ ABSL_GUARDED_BY(mu_);
  std::thread worker_;
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_TRAINER_CORE_H_

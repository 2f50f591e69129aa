#include "services/trainer/trainer_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/model/checkpoint_proto.h"
#include "common/rpc/call_util.h"
#include "common/rpc/status_util.h"

namespace latentsearch::trainer {
namespace {

// A stream that ends at once with an error.
template <typename T>
class FailedWriter final : public grpc::ServerWriteReactor<T> {
 public:
  explicit FailedWriter(const absl::Status& s) { this->Finish(rpc::ToGrpcStatus(s)); }
  void OnDone() override { delete this; }
};

// Replays an event log from `next`, then follows it until it closes. At most
// one write is in flight; the log's listener and OnWriteDone both call
// Pump(), which starts the next write or finishes the stream.
class WatchReactor final : public grpc::ServerWriteReactor<v1::TrainingEvent> {
 public:
  WatchReactor(std::shared_ptr<EventLog> log, bool skip_history) : log_(std::move(log)) {
    listener_ = log_->AddListener([this] { Pump(); });
    if (skip_history) {
      absl::MutexLock lock(&mu_);
      next_ = log_->size();
    }
    Pump();
  }
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) broken_ = true;
    }
    Pump();
  }
  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
    }
    Pump();
  }
  void OnDone() override {
    log_->RemoveListener(listener_);
    delete this;
  }

 private:
  void Pump() {
    std::optional<grpc::Status> finish;
    bool write = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_) return;
      if (broken_) {
        finish = rpc::ToGrpcStatus(absl::CancelledError("watch cancelled"));
      } else if (next_ < log_->size()) {
        current_ = log_->At(next_++);
        writing_ = write = true;
      } else if (log_->closed()) {
        finish = grpc::Status::OK;
      }
      if (finish) finished_ = true;
    }
    if (write) StartWrite(&current_);
    if (finish) Finish(*finish);
  }

  const std::shared_ptr<EventLog> log_;
  uint64_t listener_ = 0;
  absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  v1::TrainingEvent current_;  // Owned by the write in flight.
};

// Metadata first, then the weights in chunks.
class DownloadReactor final : public grpc::ServerWriteReactor<v1::CheckpointChunk> {
 public:
  DownloadReactor(model::Checkpoint checkpoint, size_t chunk_bytes)
      : checkpoint_(std::move(checkpoint)), chunk_bytes_(chunk_bytes) {
    *chunk_.mutable_metadata() = model::CheckpointMetadataToProto(checkpoint_.metadata);
    StartWrite(&chunk_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(rpc::ToGrpcStatus(absl::CancelledError("download cancelled")));
      return;
    }
    if (offset_ >= checkpoint_.weights.size()) {
      Finish(grpc::Status::OK);
      return;
    }
    const size_t n = std::min(chunk_bytes_, checkpoint_.weights.size() - offset_);
    chunk_.set_data(checkpoint_.weights.substr(offset_, n));
    offset_ += n;
    StartWrite(&chunk_);
  }
  void OnDone() override { delete this; }

 private:
  const model::Checkpoint checkpoint_;
  const size_t chunk_bytes_;
  size_t offset_ = 0;
  v1::CheckpointChunk chunk_;
};

}  // namespace

grpc::ServerUnaryReactor* TrainerService::StartTraining(grpc::CallbackServerContext* ctx,
                                                        const v1::StartTrainingRequest* request,
                                                        v1::StartTrainingResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->StartTraining(request->config()); });
}

grpc::ServerWriteReactor<v1::TrainingEvent>* TrainerService::WatchTraining(
    grpc::CallbackServerContext* ctx, const v1::WatchTrainingRequest* request) {
  absl::StatusOr<std::shared_ptr<EventLog>> log = core_->Events(request->job_id());
  if (!log.ok()) return new FailedWriter<v1::TrainingEvent>(log.status());
  return new WatchReactor(*std::move(log), request->skip_history());
}

grpc::ServerUnaryReactor* TrainerService::StopTraining(grpc::CallbackServerContext* ctx,
                                                       const v1::StopTrainingRequest* request,
                                                       v1::StopTrainingResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->StopTraining(request->job_id()); });
}

grpc::ServerUnaryReactor* TrainerService::ResumeTraining(grpc::CallbackServerContext* ctx,
                                                         const v1::ResumeTrainingRequest* request,
                                                         v1::ResumeTrainingResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->ResumeTraining(request->job_id()); });
}

grpc::ServerUnaryReactor* TrainerService::GetJob(grpc::CallbackServerContext* ctx,
                                                 const v1::GetJobRequest* request,
                                                 v1::Job* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->GetJob(request->job_id()); });
}

grpc::ServerUnaryReactor* TrainerService::ListJobs(grpc::CallbackServerContext* ctx,
                                                   const v1::ListJobsRequest* request,
                                                   v1::ListJobsResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] {
    return absl::StatusOr<v1::ListJobsResponse>(core_->ListJobs(*request));
  });
}

grpc::ServerUnaryReactor* TrainerService::ListCheckpoints(grpc::CallbackServerContext* ctx,
                                                          const v1::ListCheckpointsRequest* request,
                                                          v1::ListCheckpointsResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->ListCheckpoints(*request); });
}

grpc::ServerWriteReactor<v1::CheckpointChunk>* TrainerService::DownloadCheckpoint(
    grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) {
  const uint32_t chunk = request->chunk_size_bytes();
  if (chunk != 0 && (chunk < 1024 || chunk > (4u << 20))) {
    return new FailedWriter<v1::CheckpointChunk>(absl::InvalidArgumentError(
        absl::StrCat("chunk_size_bytes: ", chunk, " is outside 1 KiB..4 MiB (0 = 1 MiB)")));
  }
  absl::StatusOr<model::Checkpoint> c = core_->GetCheckpoint(request->model());
  if (!c.ok()) return new FailedWriter<v1::CheckpointChunk>(c.status());
  return new DownloadReactor(*std::move(c), chunk == 0 ? (1u << 20) : chunk);
}

}  // namespace latentsearch::trainer

// The gRPC face of TrainerCore (latentsearch.v1.Trainer, callback API):
// converts requests, calls the core, maps the status. Streams:
// WatchTraining replays a job's event log and follows it live;
// DownloadCheckpoint sends the metadata, then the weights in chunks.
// Thread-safety: thread-safe; the core must outlive the service.
#ifndef LATENTSEARCH_SERVICES_TRAINER_TRAINER_SERVICE_H_
#define LATENTSEARCH_SERVICES_TRAINER_TRAINER_SERVICE_H_

#include "latentsearch/v1/trainer.grpc.pb.h"
#include "services/trainer/trainer_core.h"

namespace latentsearch::trainer {

class TrainerService final : public v1::Trainer::CallbackService {
 public:
  explicit TrainerService(TrainerCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* StartTraining(grpc::CallbackServerContext* ctx,
                                          const v1::StartTrainingRequest* request,
                                          v1::StartTrainingResponse* response) override;
  grpc::ServerWriteReactor<v1::TrainingEvent>* WatchTraining(
      grpc::CallbackServerContext* ctx, const v1::WatchTrainingRequest* request) override;
  grpc::ServerUnaryReactor* StopTraining(grpc::CallbackServerContext* ctx,
                                         const v1::StopTrainingRequest* request,
                                         v1::StopTrainingResponse* response) override;
  grpc::ServerUnaryReactor* ResumeTraining(grpc::CallbackServerContext* ctx,
                                           const v1::ResumeTrainingRequest* request,
                                           v1::ResumeTrainingResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* ctx,
                                   const v1::GetJobRequest* request, v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* ctx,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* ctx,
                                            const v1::ListCheckpointsRequest* request,
                                            v1::ListCheckpointsResponse* response) override;
  grpc::ServerWriteReactor<v1::CheckpointChunk>* DownloadCheckpoint(
      grpc::CallbackServerContext* ctx, const v1::DownloadCheckpointRequest* request) override;

 private:
  TrainerCore* const core_;
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_TRAINER_SERVICE_H_

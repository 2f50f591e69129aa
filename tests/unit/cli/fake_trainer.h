// A trainer for the CLI's tests, served from the test process: every job it
// starts is "job-000001", and watching it replays a fixed run of a job that
// stopped on its time budget (steps, one epoch, a checkpoint, a push, more
// steps, then SUCCEEDED), so `train`, `watch` and `jobs` print the same
// output every time. All values, timestamps included, are fixed.
// Thread-safety: thread-safe (stateless; gRPC calls it from its threads).
#ifndef LATENTSEARCH_TESTS_UNIT_CLI_FAKE_TRAINER_H_
#define LATENTSEARCH_TESTS_UNIT_CLI_FAKE_TRAINER_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/server.h"
#include "latentsearch/v1/trainer.grpc.pb.h"

namespace latentsearch::cli {

class FakeTrainer final : public v1::Trainer::Service {
 public:
  grpc::Status StartTraining(grpc::ServerContext*, const v1::StartTrainingRequest* req,
                             v1::StartTrainingResponse* resp) override;
  grpc::Status WatchTraining(grpc::ServerContext*, const v1::WatchTrainingRequest* req,
                             grpc::ServerWriter<v1::TrainingEvent>* writer) override;
  grpc::Status StopTraining(grpc::ServerContext*, const v1::StopTrainingRequest* req,
                            v1::StopTrainingResponse* resp) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* req,
                        v1::ListJobsResponse* resp) override;

  // The events WatchTraining replays for `job_id`, in order.
  static std::vector<v1::TrainingEvent> Events(const std::string& job_id);
};

// A FakeTrainer served on 127.0.0.1 (port 0) for the lifetime of the object.
class FakeTrainerServer {
 public:
  FakeTrainerServer();
  ~FakeTrainerServer();
  const std::string& address() const { return address_; }

 private:
  FakeTrainer trainer_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_TESTS_UNIT_CLI_FAKE_TRAINER_H_

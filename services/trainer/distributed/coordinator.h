// Rank 0's side of data-parallel training: serves the group's store, forms
// the group at start (Create fails with the rendezvous error, so that a
// misconfigured group is a clear start-up error), and for every job makes
// sure the group is whole, re-forming it in a new generation when a job
// broke it or a rank was restarted, and announces the job to the other
// ranks ("g<G>/job/<n>" = job id, newline, the serialized TrainingConfig;
// follower.h). Its destructor tells the other ranks to exit.
// No LibTorch in this header (coordinator.cc holds it).
//
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_COORDINATOR_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_COORDINATOR_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/trainer/distributed/group_config.h"
#include "services/trainer/distributed/job_group.h"

namespace latentsearch::trainer::distributed {

class Coordinator final : public JobGroupSource {
 public:
  // config.rank must be 0. Errors as Rendezvous::Connect and Form.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(const GroupConfig& config);
  ~Coordinator() override;

  // The store's port (master_port, or the one picked for 0).
  int port() const;
  int world_size() const override;
  absl::StatusOr<Collective*> StartJob(const std::string& job_id,
                                       const v1::TrainingConfig& config) override;
  void EndJob(const absl::Status& result) override;

 private:
  struct Impl;
  explicit Coordinator(std::unique_ptr<Impl> impl);
  absl::Mutex mu_;
  std::unique_ptr<Impl> impl_ ABSL_GUARDED_BY(mu_);
  const int world_size_;
  const int port_;
};

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_COORDINATOR_H_

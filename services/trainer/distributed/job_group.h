// How the trainer's core runs a job on a group of data-parallel ranks
// without knowing c10d: rank 0's TrainerCore asks its JobGroupSource for
// the group at the start of every job (forming it again if a rank was lost
// since), which also tells the other ranks to run the job; the collective it
// returns goes to RunTraining. The c10d/Gloo implementation is
// coordinator.h. No LibTorch in this header.
//
// Thread-safety: implementations are thread-safe; one job at a time.
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_JOB_GROUP_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_JOB_GROUP_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "latentsearch/v1/trainer.pb.h"

namespace latentsearch::trainer::distributed {

class Collective;  // collective.h (LibTorch)

class JobGroupSource {
 public:
  virtual ~JobGroupSource() = default;
  // The ranks every job runs on (this one included).
  virtual int world_size() const = 0;
  // Makes sure the group is complete (waiting at most the rendezvous
  // timeout for ranks to (re)join) and has every other rank start
  // `job_id` with `config` (the job's effective config). The collective
  // stays valid until EndJob. UNAVAILABLE naming the missing ranks, or
  // FAILED_PRECONDITION naming a rank that disagrees (world size, rank
  // number, trainer config).
  virtual absl::StatusOr<Collective*> StartJob(const std::string& job_id,
                                               const v1::TrainingConfig& config) = 0;
  // The job ended with `result`; an error from the collective means the
  // group is broken: the next StartJob forms a new one.
  virtual void EndJob(const absl::Status& result) = 0;
};

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_JOB_GROUP_H_

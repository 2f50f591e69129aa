// A rank other than 0: joins the group rank 0 opens, then runs every job
// rank 0 announces ("g<G>/job/<n>", coordinator.h) with the same config
// (its own copy of the data set at the same path), as rank `config.rank`
// of the group; it writes no checkpoints and pushes nothing. When a job
// breaks the group, or rank 0 re-forms it, it joins the next generation.
// Returns OK when rank 0 announces its shutdown (or `keep_running` turns
// false), and an error (to exit with) when the rendezvous refuses this rank
// or rank 0 is unreachable. No LibTorch in this header.
//
// Thread-safety: call from one thread; blocks for the process's life.
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_FOLLOWER_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_FOLLOWER_H_

#include <functional>

#include "absl/status/status.h"
#include "services/trainer/distributed/group_config.h"
#include "services/trainer/trainer_core.h"

namespace latentsearch::trainer::distributed {

absl::Status RunFollower(const GroupConfig& config, const TrainerOptions& options,
                         const std::function<bool()>& keep_running);

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_FOLLOWER_H_

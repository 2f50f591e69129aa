// How a trainer process joins its group of data-parallel ranks (the values
// torchrun passes as MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, plus our
// timeouts). Plain data, no LibTorch.
// Thread-safety: a plain struct.
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_GROUP_CONFIG_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_GROUP_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace latentsearch::trainer::distributed {

struct GroupConfig {
  // Rank 0's host and the port of the c10d TCPStore it serves (0 on rank
  // 0 = any free port, for tests).
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Ranks in the group (>= 2 for this to matter) and this process's rank
  // in [0, world_size).
  int world_size = 1;
  int rank = 0;
  // The address this rank's Gloo connections bind to and are reached at
  // (a hostname or IP; must be reachable from every other rank).
  std::string host = "127.0.0.1";
  // Everything about this process that must be equal on every rank for
  // the ranks to compute the same model (trainer-wide flags: formulation,
  // precision, the proto contract's version). Compared at the rendezvous.
  std::string fingerprint;
  // How long rank 0 waits for the others to join (and they for rank 0's
  // verdict): a wrong world size or a missing rank is an error after this.
  absl::Duration rendezvous_timeout = absl::Seconds(60);
  // A collective that has not completed after this fails the job naming
  // the rank(s) at fault (a hung rank). A dead rank fails it at once
  // (its connections close), named after `probe`.
  absl::Duration collective_timeout = absl::Seconds(60);
  absl::Duration heartbeat_period = absl::Milliseconds(500);
  absl::Duration probe = absl::Seconds(2);
  // Gradients per all-reduce bucket.
  size_t bucket_bytes = 25u << 20;
};

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_GROUP_CONFIG_H_

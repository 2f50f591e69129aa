// The group's meeting point: c10d's TCPStore, served by rank 0 (a client on
// every other rank), and the protocol by which ranks form a group in it.
//
// A group is formed in a numbered *generation* (keys "g<G>/..."): the key
// "gen" holds the generation rank 0 has open. Each rank claims its number
// (a counter "g<G>/claim/<rank>": a second claim is refused at once) and
// writes a hello (world size, fingerprint, session); rank 0 waits at most
// rendezvous_timeout for ranks 1..W-1, checks every hello against its own
// and writes the verdict ("ok", or the error naming the rank and both
// values) that every rank waits for; on "ok" all build a ProcessGroupGloo
// under "g<G>/pg/". A rank that finds the open generation already formed
// (it was restarted) asks for a new one ("rejoin/<rank>" = its session) and
// waits until rank 0 opens it. Liveness: Heartbeat (gloo_collective.h)
// from Connect on.
// A LibTorch header.
//
// Thread-safety: one thread at a time.
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_RENDEZVOUS_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_RENDEZVOUS_H_

#include <functional>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/trainer/distributed/gloo_collective.h"
#include "services/trainer/distributed/group_config.h"

namespace latentsearch::trainer::distributed {

class Rendezvous {
 public:
  // Rank 0 serves the TCPStore on master_port; other ranks connect to it
  // (retrying until rendezvous_timeout). UNAVAILABLE naming the address.
  static absl::StatusOr<std::unique_ptr<Rendezvous>> Connect(const GroupConfig& config);
  // Over a store the caller made (tests: one c10d::HashStore shared by
  // ranks in one process); it must be usable from several threads.
  static std::unique_ptr<Rendezvous> OverStore(const GroupConfig& config,
                                               c10::intrusive_ptr<c10d::Store> store);

  // Rank 0's store port (the one bound when master_port was 0).
  int port() const { return port_; }
  const GroupConfig& config() const { return config_; }

  // Rank 0: opens the next generation for joining; returns its number.
  int64_t OpenGeneration();
  // Rank 0: whether a rank asked to rejoin with a session other than the
  // one that formed the current group (the process was restarted).
  bool RejoinRequested();
  // Rank 0: tells the other ranks to exit (the trainer is shutting down).
  void AnnounceShutdown();
  // Followers: a generation open for joining; waits (polling) until rank 0
  // opens one, while `keep_waiting` says so. UNAVAILABLE when rank 0 is
  // unreachable, CANCELLED when keep_waiting turned false.
  absl::StatusOr<int64_t> JoinableGeneration(const std::function<bool()>& keep_waiting);

  // Forms the group in `generation` (see the file comment). Rank 0:
  // UNAVAILABLE naming the ranks missing after the timeout,
  // FAILED_PRECONDITION naming a rank that disagrees or is claimed twice.
  // Other ranks: FAILED_PRECONDITION with rank 0's verdict, for a rank
  // claimed twice, or when rank 0 formed a group of another size; they
  // wait for the verdict as long as rank 0 is reachable (rank 0 judges at
  // its start and at the next job after a failure).
  absl::StatusOr<std::unique_ptr<GlooCollective>> Form(int64_t generation);

  // The store (this thread's connection) and key helpers for the job
  // announcements (coordinator.h, follower.h).
  c10d::Store& store() { return *store_; }
  static std::string Key(int64_t generation, const std::string& name);

 private:
  Rendezvous(const GroupConfig& config, c10::intrusive_ptr<c10d::Store> store,
             c10::intrusive_ptr<c10d::Store> heartbeat_store, int port);
  std::string Hello() const;
  // Rank 0's half of Form: the verdict on the hellos ("" = ok).
  std::string Judge(int64_t generation, absl::Status* status);
  absl::Status AwaitVerdict(int64_t generation);
  absl::StatusOr<std::unique_ptr<GlooCollective>> MakeGroup(int64_t generation);

  const GroupConfig config_;
  const c10::intrusive_ptr<c10d::Store> store_;
  const int port_;
  const std::string session_;
  std::shared_ptr<Heartbeat> heartbeat_;
  std::vector<std::string> member_sessions_;  // Rank 0: of the formed group.
};

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_RENDEZVOUS_H_

// Collective over c10d's ProcessGroupGloo: broadcasts from rank 0,
// gradient averaging in buckets (each bucket's gradients flattened into one
// buffer, all buckets all-reduced asynchronously, then each sum divided by
// the world size only after its all-reduce completed — the example in
// pytorch/examples divides before waiting, a race), and a small all-gather.
//
// Failures name the rank: every rank publishes a heartbeat in the group's
// store ("hb/<rank>" = beats:collectives started, twice a second, from its
// own thread, see Heartbeat). When a collective fails or times out
// (GlooOptions.timeout), the failing rank reads the others' heartbeats twice,
// `probe` apart: a rank whose heartbeat stopped died or is frozen; else a
// rank that started fewer collectives is hung in between. A LibTorch header.
//
// Thread-safety: one thread at a time (the training loop's); Heartbeat is
// thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_GLOO_COLLECTIVE_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_GLOO_COLLECTIVE_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/trainer/distributed/collective.h"

namespace latentsearch::trainer::distributed {

// Publishes this rank's liveness and progress in the store until destroyed.
class Heartbeat {
 public:
  // `store` must be safe to use from another thread than the collective's
  // (its own TCPStore client connection, or a HashStore).
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, absl::Duration period);
  ~Heartbeat();
  // Collectives this rank has started (published with each beat).
  void SetProgress(int64_t collectives) { progress_.store(collectives); }

 private:
  void Loop();
  const c10::intrusive_ptr<c10d::Store> store_;
  const int rank_;
  const absl::Duration period_;
  std::atomic<int64_t> progress_{0};
  absl::Notification stop_;
  std::thread thread_;
};

struct GlooCollectiveOptions {
  // Gradients per all-reduce bucket (PyTorch DDP's default bucket is 25 MiB).
  size_t bucket_bytes = 25u << 20;
  // How long to watch the heartbeats after a failure before naming ranks.
  absl::Duration probe = absl::Seconds(2);
};

class GlooCollective final : public Collective {
 public:
  // `store` is for reading the heartbeats after a failure (the group's
  // store, usable from the calling thread); `heartbeat` is this rank's.
  GlooCollective(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg,
                 c10::intrusive_ptr<c10d::Store> store, std::shared_ptr<Heartbeat> heartbeat,
                 int rank, int world_size, const GlooCollectiveOptions& options);

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  absl::Status Broadcast(const std::vector<torch::Tensor>& tensors) override;
  absl::Status BroadcastBytes(std::string* bytes) override;
  absl::Status AverageGradients(const std::vector<torch::Tensor>& params) override;
  absl::StatusOr<std::vector<double>> AllGather(const std::vector<double>& values) override;
  absl::StatusOr<std::vector<std::string>> AllGatherStrings(const std::string& text) override;
  AllreduceStats TakeStats() override;

  // True once a collective failed: the group must not be used again.
  bool broken() const { return broken_; }

 private:
  // Runs `op` (one or more c10d works, waited for); a failure becomes
  // UNAVAILABLE naming the ranks at fault (Probe) and `what`.
  absl::Status Run(const char* what, const std::function<void()>& op);
  // The ranks whose heartbeats say they died, froze or fell behind.
  std::string Probe();

  const c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  const c10::intrusive_ptr<c10d::Store> store_;
  const std::shared_ptr<Heartbeat> heartbeat_;
  const int rank_, world_size_;
  const GlooCollectiveOptions options_;
  int64_t started_ = 0;  // Collectives started.
  bool broken_ = false;
  AllreduceStats stats_;
};

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_GLOO_COLLECTIVE_H_

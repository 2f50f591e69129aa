// What the training loop needs from a group of data-parallel ranks: rank
// 0's tensors everywhere, averaged gradients, and a small all-gather (each
// step's loss, throughput and stop decision). The c10d/Gloo implementation
// is gloo_collective.h; tests may run several ranks in one process.
// A LibTorch header: include it only from the trainer's LibTorch files.
//
// Every call is collective: all ranks make the same calls in the same
// order. An error means the group is broken (a rank died, hung past the
// timeout, or disagreed): the message names the rank(s) at fault, and the
// group must not be used again.
// Thread-safety: one thread at a time (the training loop's).
#ifndef LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_COLLECTIVE_H_
#define LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_COLLECTIVE_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace latentsearch::trainer::distributed {

// Costs of the gradient all-reduces since the last TakeStats().
struct AllreduceStats {
  double seconds = 0;  // Wall time from the first launch to the last wait.
  uint64_t bytes = 0;  // Bytes this rank contributed.
  int calls = 0;       // Bucket all-reduces.
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Overwrites each tensor (contiguous, same shapes on every rank) with
  // rank 0's values.
  virtual absl::Status Broadcast(const std::vector<torch::Tensor>& tensors) = 0;
  // Rank 0's `bytes` on every rank (others' input is ignored).
  virtual absl::Status BroadcastBytes(std::string* bytes) = 0;
  // Replaces the gradient of every parameter that has one with the mean of
  // the ranks' gradients (summed in buckets, then divided once the sums are
  // complete). Every rank must have gradients for the same parameters.
  virtual absl::Status AverageGradients(const std::vector<torch::Tensor>& params) = 0;
  // Every rank's `values` (same length everywhere), rank-major:
  // result[r * values.size() + i] is rank r's values[i].
  virtual absl::StatusOr<std::vector<double>> AllGather(const std::vector<double>& values) = 0;
  // Every rank's `text`, by rank (any lengths).
  virtual absl::StatusOr<std::vector<std::string>> AllGatherStrings(const std::string& text) = 0;
  // The all-reduce costs since the last call.
  virtual AllreduceStats TakeStats() = 0;
};

}  // namespace latentsearch::trainer::distributed

#endif  // LATENTSEARCH_SERVICES_TRAINER_DISTRIBUTED_COLLECTIVE_H_

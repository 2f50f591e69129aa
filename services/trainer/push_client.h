// Pushes checkpoints to encoders over gRPC (Encoder.PushCheckpoint): the
// metadata message first, then the weights in chunks of at most 1 MiB.
// Thread-safety: thread-safe (a fresh channel per push, so an encoder that
// comes back is reached at the next attempt, not after gRPC's own
// reconnect backoff).
#ifndef LATENTSEARCH_SERVICES_TRAINER_PUSH_CLIENT_H_
#define LATENTSEARCH_SERVICES_TRAINER_PUSH_CLIENT_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "common/rpc/security.h"
#include "services/trainer/push_queue.h"

namespace latentsearch::trainer {

struct GrpcPusherOptions {
  // Bytes per data chunk (the proto's limit is 1 MiB).
  size_t chunk_bytes = 1 << 20;
  // Deadline of one push (stream, verification and loading on the encoder).
  absl::Duration deadline = absl::Minutes(2);
  // TLS / bearer token towards the encoders (common/rpc/security.h);
  // default plaintext. Files are read at every push (rotated certificates
  // are picked up).
  rpc::ClientSecurityOptions security;
};

class GrpcCheckpointPusher final : public CheckpointPusher {
 public:
  explicit GrpcCheckpointPusher(const GrpcPusherOptions& options = {}) : options_(options) {}
  // The encoder's status (UNAVAILABLE when it cannot be reached).
  absl::Status Push(const std::string& target, const model::Checkpoint& checkpoint) override;

 private:
  const GrpcPusherOptions options_;
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_PUSH_CLIENT_H_

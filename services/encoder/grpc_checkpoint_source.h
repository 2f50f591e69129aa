// CheckpointSource over gRPC: the trainer's ListCheckpoints and
// DownloadCheckpoint (latentsearch.v1.Trainer), the downloaded chunks
// checked as a push's are (CheckpointReceiver: metadata first, announced
// size, SHA-256). TLS and bearer token as common/rpc/security.h.
// Thread-safety: thread-safe (one channel, calls are independent).
#ifndef LATENTSEARCH_SERVICES_ENCODER_GRPC_CHECKPOINT_SOURCE_H_
#define LATENTSEARCH_SERVICES_ENCODER_GRPC_CHECKPOINT_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rpc/security.h"
#include "latentsearch/v1/trainer.grpc.pb.h"
#include "services/encoder/checkpoint_source.h"

namespace latentsearch::encoder {

class GrpcCheckpointSource final : public CheckpointSource {
 public:
  // Dials the trainer at `address` (any gRPC target) lazily; checkpoints
  // over `max_bytes` are refused (RESOURCE_EXHAUSTED). Errors: as
  // rpc::ApplyClientSecurity.
  static absl::StatusOr<std::unique_ptr<GrpcCheckpointSource>> Create(
      const std::string& address, const rpc::ClientSecurityOptions& security, uint64_t max_bytes);

  std::string Describe() const override { return "trainer " + address_; }
  absl::StatusOr<std::vector<model::CheckpointMetadata>> List(absl::Time deadline) override;
  absl::StatusOr<model::Checkpoint> Fetch(const std::string& name, uint64_t version,
                                          absl::Time deadline) override;

 private:
  GrpcCheckpointSource(std::string address, std::unique_ptr<v1::Trainer::Stub> stub,
                       uint64_t max_bytes)
      : address_(std::move(address)), stub_(std::move(stub)), max_bytes_(max_bytes) {}

  const std::string address_;
  const std::unique_ptr<v1::Trainer::Stub> stub_;
  const uint64_t max_bytes_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_GRPC_CHECKPOINT_SOURCE_H_

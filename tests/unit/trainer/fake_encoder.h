// A stand-in for latentsearch-encoder's PushCheckpoint, for trainer tests:
// checks what the real encoder will (metadata first, size, SHA-256, weights
// that load into the named architecture) and records what arrived.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_TESTS_UNIT_TRAINER_FAKE_ENCODER_H_
#define LATENTSEARCH_TESTS_UNIT_TRAINER_FAKE_ENCODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc/server.h"
#include "latentsearch/v1/encoder.grpc.pb.h"

namespace latentsearch::trainer::testing {

class FakeEncoder final : public v1::Encoder::CallbackService {
 public:
  struct Received {
    v1::CheckpointMetadata metadata;
    std::string sha256;  // Of the bytes that arrived.
    size_t bytes = 0;
    size_t chunks = 0;
    size_t largest_chunk = 0;
  };

  // Starts a server with this service on 127.0.0.1:0.
  static absl::StatusOr<std::unique_ptr<FakeEncoder>> Start();
  ~FakeEncoder() override;

  const std::string& address() const { return server_->address(); }

  grpc::ServerReadReactor<v1::CheckpointChunk>* PushCheckpoint(
      grpc::CallbackServerContext* ctx, v1::PushCheckpointResponse* response) override;

  // Accepted pushes, in arrival order.
  std::vector<Received> received() const;
  // Pushes refused (any error), with the status message.
  std::vector<std::string> refused() const;
  // Blocks until `n` pushes were accepted (or the timeout passes).
  bool WaitForAccepted(size_t n, absl::Duration timeout) const;

  void Accept(Received r);
  void Refuse(std::string why);

 private:
  FakeEncoder() = default;
  std::unique_ptr<rpc::Server> server_;
  mutable absl::Mutex mu_;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> refused_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::trainer::testing

#endif  // LATENTSEARCH_TESTS_UNIT_TRAINER_FAKE_ENCODER_H_

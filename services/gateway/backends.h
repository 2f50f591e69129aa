// The gateway's gRPC clients of the three services: one channel each,
// dialled with the --backend_* transport options (TLS, mTLS, a bearer token
// of the gateway's own: the caller's token is NOT forwarded; the gateway
// checks callers itself, auth.h), and the readiness probe /readyz runs.
// Thread-safety: thread-safe (channels and stubs are).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_BACKENDS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_BACKENDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc/security.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "latentsearch/v1/trainer.grpc.pb.h"

namespace latentsearch::gateway {

struct BackendOptions {
  // gRPC targets (HOST:PORT, unix:PATH, dns:///NAME:PORT); the CLI's
  // defaults.
  std::string trainer_address = "127.0.0.1:50051";
  std::string encoder_address = "127.0.0.1:50052";
  std::string search_address = "127.0.0.1:50053";
  // How every backend is dialled (TLS files, the gateway's own token).
  rpc::ClientSecurityOptions security;
  // Deadline of each unary call and of each upload stream; server streams
  // that follow a job (WatchTraining) get none.
  absl::Duration timeout = absl::Seconds(30);
};

// One backend's answer to the readiness probe.
struct BackendHealth {
  std::string service;  // "trainer", "encoder", "search"
  std::string address;
  bool ready = false;
  std::string detail;  // "SERVING", or why not
};

class Backends {
 public:
  // INVALID_ARGUMENT / NOT_FOUND for bad security options (unreadable
  // files); channels connect lazily, so a backend that is down is not an
  // error here.
  static absl::StatusOr<std::unique_ptr<Backends>> Create(const BackendOptions& options);

  v1::Trainer::Stub* trainer() { return trainer_.get(); }
  v1::Encoder::Stub* encoder() { return encoder_.get(); }
  v1::Search::Stub* search() { return search_.get(); }
  const BackendOptions& options() const { return options_; }

  // Sets the unary deadline on `context`.
  void SetDeadline(grpc::ClientContext* context) const;

  // Health of each backend's whole server (grpc.health.v1, service ""),
  // asked in parallel with `timeout`.
  std::vector<BackendHealth> CheckHealth(absl::Duration timeout) const;

 private:
  explicit Backends(BackendOptions options) : options_(std::move(options)) {}

  BackendOptions options_;
  std::shared_ptr<grpc::Channel> trainer_channel_, encoder_channel_, search_channel_;
  std::unique_ptr<v1::Trainer::Stub> trainer_;
  std::unique_ptr<v1::Encoder::Stub> encoder_;
  std::unique_ptr<v1::Search::Stub> search_;
};

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_BACKENDS_H_

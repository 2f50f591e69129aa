// EncoderClient over gRPC: Encoder.Encode on one channel to the configured
// encoder address (TLS and bearer token as common/rpc/security.h), with the
// callback API so no thread waits for the answer. gRPC statuses become
// absl::Status through rpc::FromGrpcStatus, with the encoder's address in
// every message.
//
// Replicated encoders: the address may name several replicas (a dns: name,
// an ipv4:/ipv6: list); the channel then balances round_robin and its
// service config retries UNAVAILABLE (common/rpc/channel.h). A request
// pinned to a version that the replica it reached lacks answers NOT_FOUND,
// which the service config does not retry (a version no replica holds
// would be asked for again on every replica): this client retries it
// itself, up to not_found_attempts in all. Each attempt is a new pick, and
// round_robin hands its ready replicas out in turn, so the next attempt
// goes to the next replica; under concurrent load other calls' picks
// interleave, and an attempt then lands on a replica lacking the version
// with probability (replicas lacking it) / (replicas). The final NOT_FOUND
// names the replicas that answered it (ClientContext::peer).
// Thread-safety: thread-safe. The client must outlive every Encode call's
// `done` (SearchCore, its owner, is destroyed after the server has drained).
#ifndef LATENTSEARCH_SERVICES_SEARCH_GRPC_ENCODER_CLIENT_H_
#define LATENTSEARCH_SERVICES_SEARCH_GRPC_ENCODER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc/security.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "services/search/encoder_client.h"

namespace latentsearch::search {

struct GrpcEncoderClientOptions {
  // Attempts in all of a request pinned to a version (model.version != 0)
  // while replicas answer NOT_FOUND; 1 = no retry. Default 8: a NOT_FOUND
  // is answered at once, without a forward pass, so the extra attempts for
  // a version no replica holds cost little, and with half the replicas
  // lacking the version a call under heavy interleaving still fails only
  // about 1 time in 2^8.
  int not_found_attempts = 8;
};

class GrpcEncoderClient final : public EncoderClient {
 public:
  // Dials `address` (any gRPC target: HOST:PORT, unix:PATH, dns:///NAME:PORT,
  // ipv4:A:P,B:Q) lazily. Errors: as rpc::ApplyClientSecurity (unreadable
  // certificate files); INVALID_ARGUMENT for not_found_attempts < 1.
  static absl::StatusOr<std::unique_ptr<GrpcEncoderClient>> Create(
      const std::string& address, const rpc::ClientSecurityOptions& security = {},
      const GrpcEncoderClientOptions& options = {});

  // Cancelling calls ClientContext::TryCancel on the call's context while
  // the call runs (the encoder sees the call cancelled; `done` gets
  // CANCELLED); after the call finished it does nothing.
  void Encode(const v1::EncodeRequest& request, absl::Time deadline, Cancellation* cancel,
              EncodeDone done) override;

  const std::string& address() const { return address_; }

 private:
  struct Call;
  GrpcEncoderClient(std::string address, std::unique_ptr<v1::Encoder::Stub> stub,
                    const GrpcEncoderClientOptions& options)
      : address_(std::move(address)), stub_(std::move(stub)), options_(options) {}

  // Starts one attempt of `call` (or ends it CANCELLED when it was
  // cancelled meanwhile).
  void StartAttempt(const std::shared_ptr<Call>& call);
  // Adds the address (and, for refused credentials, the flags to check).
  absl::Status Describe(const grpc::Status& status) const;

  const std::string address_;
  const std::unique_ptr<v1::Encoder::Stub> stub_;
  const GrpcEncoderClientOptions options_;
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_GRPC_ENCODER_CLIENT_H_

// EncoderClient over gRPC: Encoder.Encode on one channel to the configured
// encoder address (TLS and bearer token as common/rpc/security.h), with the
// callback API so no thread waits for the answer. gRPC statuses become
// absl::Status through rpc::FromGrpcStatus, with the encoder's address in
// every message.
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

class GrpcEncoderClient final : public EncoderClient {
 public:
  // Dials `address` (HOST:PORT or unix:PATH) lazily. Errors: as
  // rpc::ApplyClientSecurity (unreadable certificate files).
  static absl::StatusOr<std::unique_ptr<GrpcEncoderClient>> Create(
      const std::string& address, const rpc::ClientSecurityOptions& security = {});

  // Cancelling calls ClientContext::TryCancel on the call's context while
  // the call runs (the encoder sees the call cancelled; `done` gets
  // CANCELLED); after the call finished it does nothing.
  void Encode(const v1::EncodeRequest& request, absl::Time deadline, Cancellation* cancel,
              EncodeDone done) override;

  const std::string& address() const { return address_; }

 private:
  GrpcEncoderClient(std::string address, std::unique_ptr<v1::Encoder::Stub> stub)
      : address_(std::move(address)), stub_(std::move(stub)) {}

  // Adds the address (and, for refused credentials, the flags to check).
  absl::Status Describe(const grpc::Status& status) const;

  const std::string address_;
  const std::unique_ptr<v1::Encoder::Stub> stub_;
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_GRPC_ENCODER_CLIENT_H_

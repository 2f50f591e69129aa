#include "services/search/grpc_encoder_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::search {

absl::StatusOr<std::unique_ptr<GrpcEncoderClient>> GrpcEncoderClient::Create(
    const std::string& address, const rpc::ClientSecurityOptions& security) {
  rpc::ChannelOptions channel_options;
  if (absl::Status s = rpc::ApplyClientSecurity(security, address, &channel_options); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("encoder ", address, ": ", s.message()));
  }
  auto stub = v1::Encoder::NewStub(rpc::CreateChannel(address, channel_options));
  return std::unique_ptr<GrpcEncoderClient>(new GrpcEncoderClient(address, std::move(stub)));
}

absl::Status GrpcEncoderClient::Describe(const grpc::Status& status) const {
  const absl::Status s = rpc::FromGrpcStatus(status);
  if (absl::IsUnavailable(s)) {
    return absl::UnavailableError(
        absl::StrCat("the encoder at ", address_, " is unavailable: ", s.message()));
  }
  if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
    // Our credentials towards the encoder, not the caller's: a server-side
    // misconfiguration.
    return absl::InternalError(
        absl::StrCat("the encoder at ", address_,
                     " refused this search service's credentials (see --encoder_tls* and "
                     "--encoder_token_file): ",
                     s.message()));
  }
  return absl::Status(s.code(), absl::StrCat("the encoder at ", address_, ": ", s.message()));
}

void GrpcEncoderClient::Encode(const v1::EncodeRequest& request, absl::Time deadline,
                               EncodeDone done) {
  struct Call {
    std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
    v1::EncodeRequest request;
    v1::EncodeResponse response;
    EncodeDone done;
  };
  auto call = std::make_shared<Call>();
  if (deadline != absl::InfiniteFuture()) call->ctx->set_deadline(absl::ToChronoTime(deadline));
  call->request = request;
  call->done = std::move(done);
  stub_->async()->Encode(call->ctx.get(), &call->request, &call->response,
                         [this, call](grpc::Status status) {
                           // The ClientContext holds a reference to the channel. Drop it before
                           // `done`: once the search call finishes, the server may shut down
                           // and this client (owner of the channel) be destroyed while this
                           // callback still runs on a gRPC thread; the last channel reference
                           // then went away here, releasing gRPC's callback completion queue
                           // from one of its own threads (abort in grpc_cq_internal_unref, ~1 in
                           // 1,500 runs of the search service's image-query test).
                           call->ctx.reset();
                           EncodeDone done = std::move(call->done);
                           if (!status.ok()) {
                             done(Describe(status));
                             return;
                           }
                           done(std::move(call->response));
                         });
}

}  // namespace latentsearch::search

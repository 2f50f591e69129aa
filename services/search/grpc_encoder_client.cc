#include "services/search/grpc_encoder_client.h"

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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

namespace {

// One Encode call. The context is shared with a cancellation in progress:
// cancelling copies it under `mu`, then calls TryCancel outside the lock
// (gRPC may run the call's completion, which takes `mu`, on that thread).
struct EncodeCall {
  absl::Mutex mu;
  std::shared_ptr<grpc::ClientContext> ctx ABSL_GUARDED_BY(mu) =
      std::make_shared<grpc::ClientContext>();
  v1::EncodeRequest request;
  v1::EncodeResponse response;
  EncoderClient::EncodeDone done;
};

// What Cancellation::Cancel does for `call`: nothing once it finished.
void CancelCall(const std::weak_ptr<EncodeCall>& weak) {
  const std::shared_ptr<EncodeCall> call = weak.lock();
  if (call == nullptr) return;
  std::shared_ptr<grpc::ClientContext> ctx;
  {
    absl::MutexLock lock(&call->mu);
    ctx = call->ctx;
  }
  // Thread-safe, also before the call started (it is cancelled as it
  // starts) and after it finished (no-op).
  if (ctx != nullptr) ctx->TryCancel();
}

}  // namespace

void GrpcEncoderClient::Encode(const v1::EncodeRequest& request, absl::Time deadline,
                               Cancellation* cancel, EncodeDone done) {
  auto call = std::make_shared<EncodeCall>();
  grpc::ClientContext* ctx;
  {
    absl::MutexLock lock(&call->mu);
    ctx = call->ctx.get();
  }
  if (deadline != absl::InfiniteFuture()) ctx->set_deadline(absl::ToChronoTime(deadline));
  call->request = request;
  call->done = std::move(done);
  if (cancel != nullptr) {
    cancel->OnCancel([weak = std::weak_ptr<EncodeCall>(call)] { CancelCall(weak); });
  }
  stub_->async()->Encode(ctx, &call->request, &call->response, [this, call](grpc::Status status) {
    // The ClientContext holds a reference to the channel. Drop ours before
    // `done`: once the search call finishes, the server may shut down and
    // this client (owner of the channel) be destroyed while this callback
    // still runs on a gRPC thread; the last channel reference then went
    // away here, releasing gRPC's callback completion queue from one of its
    // own threads (abort in grpc_cq_internal_unref, ~1 in 1,500 runs of the
    // search service's image-query test). A cancellation running now may
    // hold the context a little longer; SearchService cancels from the
    // search call's OnCancel, which its server waits for before shutdown
    // completes, so this client still exists when that copy goes.
    std::shared_ptr<grpc::ClientContext> finished;
    {
      absl::MutexLock lock(&call->mu);
      finished = std::move(call->ctx);
    }
    finished.reset();
    EncodeDone done = std::move(call->done);
    if (!status.ok()) {
      done(Describe(status));
      return;
    }
    done(std::move(call->response));
  });
}

}  // namespace latentsearch::search

#include "services/search/grpc_encoder_client.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::search {

absl::StatusOr<std::unique_ptr<GrpcEncoderClient>> GrpcEncoderClient::Create(
    const std::string& address, const rpc::ClientSecurityOptions& security,
    const GrpcEncoderClientOptions& options) {
  if (options.not_found_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat("encoder client not_found_attempts ",
                                                   options.not_found_attempts, ": expected >= 1"));
  }
  rpc::ChannelOptions channel_options;
  if (absl::Status s = rpc::ApplyClientSecurity(security, address, &channel_options); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("encoder ", address, ": ", s.message()));
  }
  auto stub = v1::Encoder::NewStub(rpc::CreateChannel(address, channel_options));
  return std::unique_ptr<GrpcEncoderClient>(
      new GrpcEncoderClient(address, std::move(stub), options));
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

// One Encode call across its attempts. The context of the attempt in flight
// is shared with a cancellation in progress: cancelling sets `cancelled`
// and copies the context under `mu`, then calls TryCancel outside the lock
// (gRPC may run the attempt's completion, which takes `mu`, on that
// thread); a retry installs its context under `mu` unless `cancelled`.
struct GrpcEncoderClient::Call {
  absl::Mutex mu;
  std::shared_ptr<grpc::ClientContext> ctx ABSL_GUARDED_BY(mu);
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  absl::Time deadline = absl::InfiniteFuture();
  int attempts = 0;
  std::vector<std::string> not_found_from;  // Peers that answered NOT_FOUND.
  v1::EncodeRequest request;
  v1::EncodeResponse response;
  EncoderClient::EncodeDone done;
};

void GrpcEncoderClient::Encode(const v1::EncodeRequest& request, absl::Time deadline,
                               Cancellation* cancel, EncodeDone done) {
  auto call = std::make_shared<Call>();
  call->deadline = deadline;
  call->request = request;
  call->done = std::move(done);
  if (cancel != nullptr) {
    // Nothing once the call finished.
    cancel->OnCancel([weak = std::weak_ptr<Call>(call)] {
      const std::shared_ptr<Call> c = weak.lock();
      if (c == nullptr) return;
      std::shared_ptr<grpc::ClientContext> ctx;
      {
        absl::MutexLock lock(&c->mu);
        c->cancelled = true;
        ctx = c->ctx;
      }
      // Thread-safe, also before the attempt started (it is cancelled as it
      // starts) and after it finished (no-op).
      if (ctx != nullptr) ctx->TryCancel();
    });
  }
  StartAttempt(call);
}

void GrpcEncoderClient::StartAttempt(const std::shared_ptr<Call>& call) {
  grpc::ClientContext* ctx;
  {
    absl::MutexLock lock(&call->mu);
    if (!call->cancelled) {
      call->ctx = std::make_shared<grpc::ClientContext>();
      ctx = call->ctx.get();
    } else {
      ctx = nullptr;
    }
  }
  if (ctx == nullptr) {
    EncodeDone done = std::move(call->done);
    done(absl::CancelledError(
        absl::StrCat("the call to the encoder at ", address_, " was cancelled between attempts")));
    return;
  }
  if (call->deadline != absl::InfiniteFuture())
    ctx->set_deadline(absl::ToChronoTime(call->deadline));
  ++call->attempts;
  call->response.Clear();
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
    if (status.error_code() == grpc::StatusCode::NOT_FOUND &&
        call->request.model().version() != 0) {
      call->not_found_from.push_back(finished->peer());
      if (call->attempts < options_.not_found_attempts) {
        // Another pick: round_robin's next replica may hold the version.
        finished.reset();
        StartAttempt(call);
        return;
      }
    }
    finished.reset();
    EncodeDone done = std::move(call->done);
    if (!status.ok()) {
      absl::Status s = Describe(status);
      if (call->not_found_from.size() > 1 && absl::IsNotFound(s)) {
        s = absl::NotFoundError(absl::StrCat(s.message(), " (", call->attempts,
                                             " attempts; NOT_FOUND from ",
                                             absl::StrJoin(call->not_found_from, ", "), ")"));
      }
      done(std::move(s));
      return;
    }
    done(std::move(call->response));
  });
}

}  // namespace latentsearch::search

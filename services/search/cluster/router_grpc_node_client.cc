// NodeClient over gRPC's callback API (router_grpc_node_client.h).
// Thread-safety: each call's state is its own; the in-flight count is
// guarded by its mutex.
#include "services/search/cluster/router_grpc_node_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::search::cluster {
namespace {

// One call. The context is shared with a cancellation in progress:
// cancelling copies it under `mu` and calls TryCancel outside the lock (as
// GrpcEncoderClient does).
template <typename Request, typename Response>
struct UnaryCall {
  absl::Mutex mu;
  std::shared_ptr<grpc::ClientContext> ctx ABSL_GUARDED_BY(mu) =
      std::make_shared<grpc::ClientContext>();
  std::shared_ptr<const Request> request;
  Response response;
  NodeClient::Done<Response> done;
};

template <typename Call>
void CancelCall(const std::weak_ptr<Call>& weak) {
  const std::shared_ptr<Call> call = weak.lock();
  if (call == nullptr) return;
  std::shared_ptr<grpc::ClientContext> ctx;
  {
    absl::MutexLock lock(&call->mu);
    ctx = call->ctx;
  }
  if (ctx != nullptr) ctx->TryCancel();
}

bool NamesNode(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kCancelled || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kInternal || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kUnimplemented;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcNodeClient>> GrpcNodeClient::Create(
    const std::string& address, const rpc::ClientSecurityOptions& security,
    absl::Duration max_reconnect_backoff) {
  rpc::ChannelOptions channel_options;
  channel_options.max_reconnect_backoff = max_reconnect_backoff;
  if (absl::Status s = rpc::ApplyClientSecurity(security, address, &channel_options); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("node ", address, ": ", s.message()));
  }
  auto stub = v1::SearchNode::NewStub(rpc::CreateChannel(address, channel_options));
  return std::unique_ptr<GrpcNodeClient>(new GrpcNodeClient(address, std::move(stub)));
}

NodeDialer GrpcNodeClient::Dialer(rpc::ClientSecurityOptions security,
                                  absl::Duration max_reconnect_backoff) {
  return [security, max_reconnect_backoff](
             const std::string& address) -> absl::StatusOr<std::shared_ptr<NodeClient>> {
    absl::StatusOr<std::unique_ptr<GrpcNodeClient>> client =
        Create(address, security, max_reconnect_backoff);
    if (!client.ok()) return client.status();
    return std::shared_ptr<NodeClient>(*std::move(client));
  };
}

GrpcNodeClient::~GrpcNodeClient() {
  absl::MutexLock lock(&in_flight_->mu);
  in_flight_->mu.Await(absl::Condition(
      +[](int* calls) { return *calls == 0; }, &in_flight_->calls));
}

absl::Status GrpcNodeClient::Describe(const char* rpc, const grpc::Status& status) const {
  const absl::Status s = rpc::FromGrpcStatus(status);
  if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
    // The router's credentials towards the node: a misconfiguration here.
    return absl::InternalError(absl::StrCat(
        "node ", address_, " refused this router's credentials (", rpc, "): ", s.message()));
  }
  if (NamesNode(s.code())) {
    return absl::Status(s.code(), absl::StrCat("node ", address_, " (", rpc, "): ", s.message()));
  }
  return s;
}

template <typename Request, typename Response, typename Method>
void GrpcNodeClient::Call(Method method, const char* name, Ptr<Request> request,
                          absl::Time deadline, Cancellation* cancel, Done<Response> done) {
  using CallT = UnaryCall<Request, Response>;
  auto call = std::make_shared<CallT>();
  grpc::ClientContext* ctx;
  {
    absl::MutexLock lock(&call->mu);
    ctx = call->ctx.get();
  }
  if (deadline != absl::InfiniteFuture()) ctx->set_deadline(absl::ToChronoTime(deadline));
  call->request = std::move(request);
  call->done = std::move(done);
  {
    absl::MutexLock lock(&in_flight_->mu);
    ++in_flight_->calls;
  }
  if (cancel != nullptr) {
    cancel->OnCancel([weak = std::weak_ptr<CallT>(call)] { CancelCall(weak); });
  }
  method(ctx, call->request.get(), &call->response,
         [this, name, call, in_flight = in_flight_](grpc::Status status) {
           // Drop the context (it holds a channel reference) before `done`;
           // the client itself outlives this callback (its destructor waits
           // for `in_flight`), so the channel is never released here.
           std::shared_ptr<grpc::ClientContext> finished;
           {
             absl::MutexLock lock(&call->mu);
             finished = std::move(call->ctx);
           }
           finished.reset();
           Done<Response> done = std::move(call->done);
           if (status.ok()) {
             done(std::move(call->response));
           } else {
             done(Describe(name, status));
           }
           absl::MutexLock lock(&in_flight->mu);
           --in_flight->calls;
         });
}

#define LS_NODE_RPC(Rpc, Request, Response)                                                     \
  void GrpcNodeClient::Rpc(Ptr<v1::Request> request, absl::Time deadline, Cancellation* cancel, \
                           Done<v1::Response> done) {                                           \
    Call<v1::Request, v1::Response>(                                                            \
        [this](grpc::ClientContext* ctx, const v1::Request* req, v1::Response* resp,            \
               std::function<void(grpc::Status)> cb) {                                          \
          stub_->async()->Rpc(ctx, req, resp, std::move(cb));                                   \
        },                                                                                      \
        #Rpc, std::move(request), deadline, cancel, std::move(done));                           \
  }

LS_NODE_RPC(GetNodeStatus, GetNodeStatusRequest, GetNodeStatusResponse)
LS_NODE_RPC(Write, ShardWriteRequest, ShardWriteResponse)
LS_NODE_RPC(SearchShard, ShardSearchRequest, SearchBatchResponse)
LS_NODE_RPC(GetItems, GetItemsRequest, GetItemsResponse)
LS_NODE_RPC(ScanShard, ScanShardRequest, ScanShardResponse)
LS_NODE_RPC(Resync, ResyncRequest, ResyncResponse)
LS_NODE_RPC(SnapshotShards, SnapshotRequest, SnapshotResponse)

#undef LS_NODE_RPC

}  // namespace latentsearch::search::cluster

// Small helpers for gRPC server handlers that hand a call to a service core
// (search_service.cc, encoder_service.cc, trainer_service.cc, the cluster's
// node_service.cc): the call's deadline in absl types, so the cores stay
// free of gRPC, and the one-line unary adapter.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_RPC_CALL_UTIL_H_
#define LATENTSEARCH_COMMON_RPC_CALL_UTIL_H_

#include <utility>

#include "absl/time/time.h"
#include "common/rpc/status_util.h"
#include "grpcpp/server_context.h"

namespace latentsearch::rpc {

// The call's deadline on the absl clock; absl::InfiniteFuture() when the
// client set none (gRPC reports a far-future time then).
absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx);

// Finishes a unary callback call with `call()`'s answer (an
// absl::StatusOr<Response>), its status mapped by ToGrpcStatus.
template <typename Response, typename F>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx, Response* response,
                                      F&& call) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto result = call();
  if (result.ok()) *response = *std::move(result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_CALL_UTIL_H_

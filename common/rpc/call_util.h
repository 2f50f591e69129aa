// Small helpers for gRPC server handlers that hand a call to a service core
// (search_service.cc, encoder_service.cc): the call's deadline in absl
// types, so the cores stay free of gRPC.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_RPC_CALL_UTIL_H_
#define LATENTSEARCH_COMMON_RPC_CALL_UTIL_H_

#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace latentsearch::rpc {

// The call's deadline on the absl clock; absl::InfiniteFuture() when the
// client set none (gRPC reports a far-future time then).
absl::Time DeadlineOf(const grpc::CallbackServerContext& ctx);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_CALL_UTIL_H_

// Per-RPC request counts and latencies for every latentsearch server, taken
// by a gRPC server interceptor (grpc::experimental interceptor API of
// gRPC 1.51) that the common Server bootstrap installs when
// ServerOptions::metrics is set. Families (names after go-grpc-prometheus):
//
//   grpc_server_started_total{grpc_service,grpc_method,grpc_type}
//   grpc_server_handled_total{grpc_service,grpc_method,grpc_type,grpc_code}
//   grpc_server_handling_seconds{grpc_service,grpc_method,grpc_type,grpc_code}
//
// grpc_code is the status code's name ("OK", "INVALID_ARGUMENT", ...); a
// call that ends without a status (client gone, deadline) counts as
// CANCELLED. Calls refused by token auth never reach the interceptor; they
// are counted in
//
//   latentsearch_auth_failures_total{reason}   (missing, malformed, invalid)
//
// One RpcMetrics per registry (its families are registered once); several
// servers of one process may share it.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_COMMON_RPC_RPC_METRICS_H_
#define LATENTSEARCH_COMMON_RPC_RPC_METRICS_H_

#include <memory>
#include <string>

#include "common/rpc/metrics.h"
#include "grpcpp/support/server_interceptor.h"

namespace latentsearch::rpc {

class RpcMetrics {
 public:
  // Registers the families in `registry` (not owned; must outlive this).
  explicit RpcMetrics(MetricsRegistry* registry);

  // `method` is the full name "/pkg.Service/Method"; `type` "unary",
  // "client_stream", "server_stream" or "bidi_stream".
  void Started(const std::string& method, const char* type);
  void Handled(const std::string& method, const char* type, int grpc_code, double seconds);
  // A call refused by token auth (security.h).
  void AuthFailure(const std::string& reason);

  // A factory for ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

 private:
  CounterFamily* const started_;
  CounterFamily* const handled_;
  HistogramFamily* const seconds_;
  CounterFamily* const auth_failures_;
};

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}; anything else ->
// {"unknown", method}.
std::pair<std::string, std::string> SplitMethodName(const std::string& method);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_RPC_METRICS_H_

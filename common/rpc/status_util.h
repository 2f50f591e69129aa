// The single place where absl::Status and grpc::Status meet (STYLE.md
// point 4). Both use the canonical code numbering, so the mapping keeps the
// code and the message; gRPC handlers call ToGrpcStatus() and nothing else
// to report an error.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_RPC_STATUS_UTIL_H_
#define LATENTSEARCH_COMMON_RPC_STATUS_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace latentsearch::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// "UNAVAILABLE: failed to connect to all addresses" — the one-line form the
// CLI prints.
std::string FormatGrpcStatus(const grpc::Status& status);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_STATUS_UTIL_H_

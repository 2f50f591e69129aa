// Lists the services a server exposes through gRPC server reflection
// (grpc.reflection.v1alpha), e.g. for `latentsearch admin` and tests.
//
// Debian's gRPC ships the reflection messages compiled into
// libgrpc++_reflection but not their headers, so this client uses the
// descriptors that library registers in protobuf's generated pool and talks
// to the bidirectional stream with generic messages.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_RPC_REFLECTION_CLIENT_H_
#define LATENTSEARCH_COMMON_RPC_REFLECTION_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace latentsearch::rpc {

// Full service names, sorted (e.g. "grpc.health.v1.Health",
// "latentsearch.v1.Search"). UNIMPLEMENTED when the server has no
// reflection.
absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout = absl::Seconds(5));

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_REFLECTION_CLIENT_H_

// A client for the standard gRPC health protocol (grpc.health.v1), used by
// the CLI, container health probes and tests.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_RPC_HEALTH_CLIENT_H_
#define LATENTSEARCH_COMMON_RPC_HEALTH_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/channel.h"

namespace latentsearch::rpc {

using HealthStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

// Health of `service` ("" = the whole server). RPC errors come back as
// their status (UNAVAILABLE when the server is down, NOT_FOUND for an
// unknown service name, DEADLINE_EXCEEDED after `timeout`).
absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service = "",
                                         absl::Duration timeout = absl::Seconds(5));

// "SERVING", "NOT_SERVING", ...
std::string HealthStatusName(HealthStatus status);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_HEALTH_CLIENT_H_

// The command-line flags every service binary shares: Prometheus metrics
// (--metrics_listen), transport security (--tls_cert, --tls_key,
// --tls_client_ca, --auth_tokens_file, --allow_insecure_tokens), the drain
// on SIGTERM (--drain_seconds), and logging (--log_level, --v; in
// log_flags.h). Defined once here so the three main.cc files accept and
// document them alike; service_main.h applies them.
//
// Binary-side code (it reads flags): link it into service binaries only;
// libraries take rpc::ServerOptions / ServerSecurityOptions instead.
#ifndef LATENTSEARCH_SERVICES_COMMON_SERVER_FLAGS_H_
#define LATENTSEARCH_SERVICES_COMMON_SERVER_FLAGS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc/metrics.h"
#include "common/rpc/metrics_server.h"
#include "common/rpc/server.h"

namespace latentsearch::services {

// Sets options->security from the TLS/token flags (reads the files).
// Errors: as rpc::ServerSecurityFromFiles (unreadable files, a key without
// a certificate, tokens without TLS or --allow_insecure_tokens).
absl::Status ApplySecurityFlags(rpc::ServerOptions* options);

// --drain_seconds: how long in-flight RPCs may finish after SIGTERM.
absl::Duration DrainFromFlags();

// Starts the /metrics server on --metrics_listen for `registry`, or returns
// nullptr when the flag is empty. Errors: as rpc::MetricsServer::Start
// (bad address, port in use).
absl::StatusOr<std::unique_ptr<rpc::MetricsServer>> StartMetricsFromFlags(
    const rpc::MetricsRegistry* registry);

}  // namespace latentsearch::services

#endif  // LATENTSEARCH_SERVICES_COMMON_SERVER_FLAGS_H_

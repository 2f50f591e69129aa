#include "services/common/server_flags.h"

#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "common/rpc/security.h"

ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT serving the Prometheus /metrics page over plain HTTP; port 0 picks a "
          "free port (logged as 'metrics listening on ADDR'); empty = off");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require and verify client certificates it signed (mutual TLS)");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of accepted bearer tokens, one per line ('#' comments); every RPC but "
          "grpc.health.v1 then needs 'authorization: Bearer TOKEN'. Needs TLS or "
          "--allow_insecure_tokens");
ABSL_FLAG(bool, allow_insecure_tokens, false,
          "Accept bearer tokens without TLS from loopback and unix-socket peers only "
          "(gRPC local credentials)");
ABSL_FLAG(double, drain_seconds, 10, "On SIGTERM, how long in-flight RPCs may finish");

namespace latentsearch::services {

absl::Status ApplySecurityFlags(rpc::ServerOptions* options) {
  absl::StatusOr<rpc::ServerSecurityOptions> security = rpc::ServerSecurityFromFiles(
      absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
      absl::GetFlag(FLAGS_tls_client_ca), absl::GetFlag(FLAGS_auth_tokens_file),
      absl::GetFlag(FLAGS_allow_insecure_tokens));
  if (!security.ok()) return security.status();
  options->security = *std::move(security);
  return absl::OkStatus();
}

absl::Duration DrainFromFlags() { return absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)); }

absl::StatusOr<std::unique_ptr<rpc::MetricsServer>> StartMetricsFromFlags(
    const rpc::MetricsRegistry* registry) {
  const std::string listen = absl::GetFlag(FLAGS_metrics_listen);
  if (listen.empty()) return std::unique_ptr<rpc::MetricsServer>();
  return rpc::MetricsServer::Start(listen, registry);
}

}  // namespace latentsearch::services

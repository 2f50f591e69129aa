// latentsearch-probe: one gRPC health check (grpc.health.v1.Health/Check)
// against a latentsearch service, for container HEALTHCHECKs, Kubernetes
// exec probes and scripts. Exits 0 when the answer is SERVING, 1 otherwise
// (NOT_SERVING, unknown service name, server down, deadline exceeded) with
// one line on stderr saying which, 2 on a usage error.
//
//   latentsearch-probe --address=127.0.0.1:50053 [--service=latentsearch.v1.Search]
//   latentsearch-probe --address=search:50053 --tls_ca=/etc/latentsearch/tls/ca.crt
//
// Health stays open when a service requires tokens, so the probe sends none.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

ABSL_FLAG(std::string, address, "127.0.0.1:50053", "Service address: HOST:PORT or unix:PATH");
ABSL_FLAG(std::string, service, "",
          "Health name to check: \"\" = the whole server, or a service's full name, "
          "e.g. latentsearch.v1.Encoder (SERVING only once a model is loaded)");
ABSL_FLAG(double, timeout_seconds, 3, "Deadline of the health call, seconds");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed the server certificate; set = use TLS");
ABSL_FLAG(std::string, tls_cert, "", "With --tls_ca: client certificate (PEM) for mTLS");
ABSL_FLAG(std::string, tls_key, "", "With --tls_cert: client private key (PEM)");
ABSL_FLAG(std::string, tls_server_name, "",
          "With --tls_ca: name to verify in the server certificate (default: the host)");
ABSL_FLAG(bool, quiet, false, "Print nothing when SERVING");

namespace {

constexpr int kUsage = 2;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "latentsearch-probe --address=HOST:PORT [--service=NAME]: exit 0 when the "
      "gRPC health service answers SERVING, 1 otherwise, 2 on a usage error.");
  absl::ParseCommandLine(argc, argv);
  const std::string address = absl::GetFlag(FLAGS_address);
  const std::string service = absl::GetFlag(FLAGS_service);
  const double timeout = absl::GetFlag(FLAGS_timeout_seconds);
  if (address.empty() || !(timeout > 0)) {
    std::fprintf(stderr, "latentsearch-probe: --address must be set and --timeout_seconds > 0\n");
    return kUsage;
  }

  latentsearch::rpc::ChannelOptions options;
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  if (!ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> root = ReadFile(ca);
    if (!root.ok()) {
      std::fprintf(stderr, "latentsearch-probe: --tls_ca: %s\n", root.status().ToString().c_str());
      return kUsage;
    }
    ssl.pem_root_certs = *root;
    const std::string cert = absl::GetFlag(FLAGS_tls_cert);
    const std::string key = absl::GetFlag(FLAGS_tls_key);
    if (cert.empty() != key.empty()) {
      std::fprintf(stderr, "latentsearch-probe: --tls_cert and --tls_key go together\n");
      return kUsage;
    }
    if (!cert.empty()) {
      absl::StatusOr<std::string> c = ReadFile(cert);
      absl::StatusOr<std::string> k = ReadFile(key);
      if (!c.ok() || !k.ok()) {
        std::fprintf(stderr, "latentsearch-probe: %s\n",
                     (!c.ok() ? c.status() : k.status()).ToString().c_str());
        return kUsage;
      }
      ssl.pem_cert_chain = *c;
      ssl.pem_private_key = *k;
    }
    options.credentials = grpc::SslCredentials(ssl);
  } else if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    std::fprintf(stderr, "latentsearch-probe: --tls_cert needs --tls_ca\n");
    return kUsage;
  }
  // A channel with the server-name override when asked for (tests and
  // in-cluster names that differ from the certificate's).
  std::shared_ptr<grpc::Channel> channel;
  const std::string server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (!server_name.empty() && options.credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(server_name);
    channel = grpc::CreateCustomChannel(address, options.credentials, args);
  } else {
    channel = latentsearch::rpc::CreateChannel(address, options);
  }

  absl::StatusOr<latentsearch::rpc::HealthStatus> health =
      latentsearch::rpc::CheckHealth(channel, service, absl::Seconds(timeout));
  const std::string what = service.empty() ? "server" : "'" + service + "'";
  if (!health.ok()) {
    std::fprintf(stderr, "latentsearch-probe: %s at %s: %s\n", what.c_str(), address.c_str(),
                 health.status().ToString().c_str());
    return 1;
  }
  const bool serving = *health == grpc::health::v1::HealthCheckResponse::SERVING;
  if (!serving || !absl::GetFlag(FLAGS_quiet)) {
    std::fprintf(serving ? stdout : stderr, "%s at %s: %s\n", what.c_str(), address.c_str(),
                 latentsearch::rpc::HealthStatusName(*health).c_str());
  }
  return serving ? 0 : 1;
}

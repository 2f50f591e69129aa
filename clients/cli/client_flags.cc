#include "clients/cli/client_flags.h"

#include <cmath>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/rpc/security.h"

ABSL_FLAG(std::string, trainer_address, "127.0.0.1:50051",
          "Address of the trainer service (HOST:PORT or unix:PATH; rank 0 of a trainer group).");
ABSL_FLAG(std::string, encoder_address, "127.0.0.1:50052",
          "Address of the encoder service: HOST:PORT, unix:PATH, or any gRPC target naming "
          "several replicas (dns:///NAME:PORT, ipv4:A:P,B:P), used round-robin.");
ABSL_FLAG(std::string, search_address, "127.0.0.1:50053",
          "Address of the search service: HOST:PORT, unix:PATH, or any gRPC target naming "
          "several replicas (dns:///NAME:PORT, ipv4:A:P,B:P), used round-robin.");
ABSL_FLAG(double, timeout, 30,
          "Deadline of each RPC in seconds (each upload stream counts as one); "
          "0 = none. Following a training job is never cut off.");
ABSL_FLAG(bool, json, false, "Print machine-readable JSON on stdout instead of tables.");
ABSL_FLAG(bool, tls, false,
          "Dial with TLS, verifying the server against the system roots "
          "(or --tls_ca).");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle the server certificate must chain to (implies --tls).");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate for mutual TLS (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name the server certificate must carry, when it is not the address's host.");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the bearer token sent with every call.");
ABSL_FLAG(std::string, token, "",
          "Bearer token sent with every call (visible in the process list: prefer "
          "--token_file). Without TLS only over loopback or unix sockets.");

namespace latentsearch::cli {

const char* ServiceName(Service service) {
  switch (service) {
    case Service::kTrainer:
      return "trainer";
    case Service::kEncoder:
      return "encoder";
    case Service::kSearch:
      return "search";
  }
  return "?";
}

std::vector<std::string> ClientFlagNames(const std::vector<Service>& services) {
  std::vector<std::string> names;
  for (Service s : services) names.push_back(absl::StrCat(ServiceName(s), "_address"));
  names.push_back("timeout");
  names.push_back("json");
  for (std::string& name : TransportFlagNames()) names.push_back(std::move(name));
  return names;
}

std::vector<std::string> TransportFlagNames() {
  return {"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name", "token_file", "token"};
}

std::string AddressFromFlags(Service service) {
  switch (service) {
    case Service::kTrainer:
      return absl::GetFlag(FLAGS_trainer_address);
    case Service::kEncoder:
      return absl::GetFlag(FLAGS_encoder_address);
    case Service::kSearch:
      return absl::GetFlag(FLAGS_search_address);
  }
  return "";
}

absl::StatusOr<absl::Duration> TimeoutFromFlags() {
  const double t = absl::GetFlag(FLAGS_timeout);
  if (!std::isfinite(t) || t < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout=", t, ": expected seconds >= 0 (0 = no deadline)"));
  }
  if (t == 0) return absl::InfiniteDuration();
  return absl::Seconds(t);
}

bool JsonFromFlags() { return absl::GetFlag(FLAGS_json); }

absl::StatusOr<rpc::ChannelOptions> ChannelOptionsFromFlags(const std::string& address) {
  rpc::ChannelOptions options;
  // Search results with vectors and Reconstruct answers can be large.
  options.max_receive_message_bytes = 64 << 20;
  LS_ASSIGN_OR_RETURN(
      rpc::ClientSecurityOptions security,
      rpc::ClientSecurityFromFiles(absl::GetFlag(FLAGS_tls), absl::GetFlag(FLAGS_tls_ca),
                                   absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                                   absl::GetFlag(FLAGS_tls_server_name), absl::GetFlag(FLAGS_token),
                                   absl::GetFlag(FLAGS_token_file)));
  LS_RETURN_IF_ERROR(rpc::ApplyClientSecurity(security, address, &options));
  return options;
}

absl::StatusOr<Endpoint> DialFromFlags(Service service) {
  const std::string address = AddressFromFlags(service);
  if (address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", ServiceName(service), "_address is empty; expected HOST:PORT or unix:PATH"));
  }
  LS_ASSIGN_OR_RETURN(absl::Duration timeout, TimeoutFromFlags());
  LS_ASSIGN_OR_RETURN(rpc::ChannelOptions options, ChannelOptionsFromFlags(address));
  return Dial(ServiceName(service), address, timeout, options);
}

}  // namespace latentsearch::cli

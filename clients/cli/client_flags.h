// Flags every subcommand that talks to a service shares, and the one place
// that turns them into dialled Endpoints (endpoint.h):
//   --trainer_address  (default 127.0.0.1:50051)
//   --encoder_address  (default 127.0.0.1:50052)
//   --search_address   (default 127.0.0.1:50053)
//   --timeout          seconds per RPC (each unary call, each upload stream;
//                      0 = no deadline); default 30
//   --json             machine-readable output on stdout
//   --tls              dial with TLS (system roots unless --tls_ca)
//   --tls_ca           PEM CA the server certificate must chain to (implies TLS)
//   --tls_cert/--tls_key  PEM client certificate and key (mutual TLS)
//   --tls_server_name  name the server certificate must carry, if not the host
//   --token_file / --token  bearer token sent as 'authorization: Bearer T'
//                      (without TLS: loopback and unix sockets only)
// Addresses are HOST:PORT or unix:PATH. The transport flags apply to every
// service a subcommand dials (common/rpc/security.h).
//
// This is the CLI binary's own code: it reads flags; libraries must not.
#ifndef LATENTSEARCH_CLIENTS_CLI_CLIENT_FLAGS_H_
#define LATENTSEARCH_CLIENTS_CLI_CLIENT_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/cli/endpoint.h"
#include "common/rpc/channel.h"

namespace latentsearch::cli {

// The services a subcommand may dial.
enum class Service { kTrainer, kEncoder, kSearch };

// "trainer", "encoder", "search".
const char* ServiceName(Service service);

// Names of the shared flags, for Command::flags: the address flags of
// `services`, then timeout, json and the transport options.
std::vector<std::string> ClientFlagNames(const std::vector<Service>& services);

// Just the transport flags (tls*, token*), for subcommands that list their
// flags themselves.
std::vector<std::string> TransportFlagNames();

// The address the flags give for `service`.
std::string AddressFromFlags(Service service);

// --timeout as a duration (InfiniteDuration for 0). INVALID_ARGUMENT for a
// negative or non-finite value.
absl::StatusOr<absl::Duration> TimeoutFromFlags();

// --json.
bool JsonFromFlags();

// Channel options (message limits, credentials) from the transport flags
// for dialling `address` (a token without TLS travels over gRPC local
// credentials, which differ for unix: and TCP addresses). INVALID_ARGUMENT
// for inconsistent flags, NOT_FOUND for an unreadable file.
absl::StatusOr<rpc::ChannelOptions> ChannelOptionsFromFlags(const std::string& address = "");

// Dials `service` at its flag address with the flag timeout and transport
// options. INVALID_ARGUMENT (a usage error) for bad flag values.
absl::StatusOr<Endpoint> DialFromFlags(Service service);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_CLIENT_FLAGS_H_

// Flags every subcommand that talks to a service shares, and the one place
// that turns them into dialled Endpoints (endpoint.h):
//   --trainer_address  (default 127.0.0.1:50051)
//   --encoder_address  (default 127.0.0.1:50052)
//   --search_address   (default 127.0.0.1:50053)
//   --timeout          seconds per RPC (each unary call, each upload stream;
//                      0 = no deadline); default 30
//   --json             machine-readable output on stdout
// Addresses are HOST:PORT or unix:PATH. Transport security options (TLS,
// tokens) belong here too: add their flags to ClientFlagNames() and apply
// them in ChannelOptionsFromFlags(), and every subcommand gets them.
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

// The address the flags give for `service`.
std::string AddressFromFlags(Service service);

// --timeout as a duration (InfiniteDuration for 0). INVALID_ARGUMENT for a
// negative or non-finite value.
absl::StatusOr<absl::Duration> TimeoutFromFlags();

// --json.
bool JsonFromFlags();

// Channel options (message limits, credentials) from the transport flags.
absl::StatusOr<rpc::ChannelOptions> ChannelOptionsFromFlags();

// Dials `service` at its flag address with the flag timeout and transport
// options. INVALID_ARGUMENT (a usage error) for bad flag values.
absl::StatusOr<Endpoint> DialFromFlags(Service service);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_CLIENT_FLAGS_H_

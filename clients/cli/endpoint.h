// A dialled latentsearch service as the CLI's library code sees it, and the
// CLI's one way of reporting errors. No flags here: subcommands build
// Endpoints with client_flags.h; library functions (eval.h, query.h, ...)
// take them as arguments, so `report` and tests can call them directly.
//
// Errors from a service are turned into an absl::Status that keeps the gRPC
// code and says which service at which address answered (RpcError); the CLI
// prints any failed status as ONE line
//   error: <CODE>: <message>
// e.g. "error: UNAVAILABLE: failed to connect to all addresses (search at
// 127.0.0.1:50053)". Exit code: 1 for anything a service answered, 2 for a
// local usage error (INVALID_ARGUMENT not from a service), else 1.
// Thread-safety: Endpoint is a value type whose channel is thread-safe; the
// functions are pure.
#ifndef LATENTSEARCH_CLIENTS_CLI_ENDPOINT_H_
#define LATENTSEARCH_CLIENTS_CLI_ENDPOINT_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/rpc/channel.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace latentsearch::cli {

// One service the CLI talks to.
struct Endpoint {
  // "trainer", "encoder" or "search": how errors name it.
  std::string service;
  // As dialled: HOST:PORT or unix:PATH.
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  // Deadline of each unary RPC (and of each client-streaming upload);
  // absl::InfiniteDuration() = none. Server streams that follow a job
  // (WatchTraining) never get one.
  absl::Duration timeout = absl::Seconds(30);
};

// Dials `address` (lazily: errors appear on the first RPC). The single place
// that creates the CLI's channels: TLS / token options travel in `options`.
Endpoint Dial(absl::string_view service, absl::string_view address, absl::Duration timeout,
              const rpc::ChannelOptions& options = {});

// Sets `context`'s deadline from endpoint.timeout (no-op when infinite).
void SetDeadline(const Endpoint& endpoint, grpc::ClientContext* context);

// OK for an OK status; else an absl::Status with the same code and the
// message "<message> (<service> at <address>)", marked as a service's answer
// (IsRpcError).
absl::Status RpcError(const Endpoint& endpoint, const grpc::Status& status);

// True for a status made by RpcError.
bool IsRpcError(const absl::Status& status);

// "error: <CODE>: <message>" on one line (newlines in the message become
// spaces), without the trailing newline.
std::string FormatError(const absl::Status& status);

// Prints FormatError(status) + "\n" to `err` and returns the exit code: 0 for
// OK, 2 for a local INVALID_ARGUMENT (a usage error), 1 otherwise.
int ReportError(const absl::Status& status, std::ostream& err);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_ENDPOINT_H_

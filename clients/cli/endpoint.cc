#include "clients/cli/endpoint.h"

#include <chrono>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "clients/cli/command.h"
#include "common/rpc/status_util.h"

namespace latentsearch::cli {
namespace {

// Payload key marking a status that a service answered.
constexpr absl::string_view kRpcPayload = "type.latentsearch.io/cli.RpcError";

}  // namespace

Endpoint Dial(absl::string_view service, absl::string_view address, absl::Duration timeout,
              const rpc::ChannelOptions& options) {
  Endpoint e;
  e.service = std::string(service);
  e.address = std::string(address);
  e.channel = rpc::CreateChannel(e.address, options);
  e.timeout = timeout;
  return e;
}

void SetDeadline(const Endpoint& endpoint, grpc::ClientContext* context) {
  if (endpoint.timeout == absl::InfiniteDuration() || endpoint.timeout <= absl::ZeroDuration()) {
    return;
  }
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(endpoint.timeout));
}

absl::Status RpcError(const Endpoint& endpoint, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status base = rpc::FromGrpcStatus(status);
  absl::Status out(base.code(), absl::StrCat(base.message(), " (", endpoint.service, " at ",
                                             endpoint.address, ")"));
  out.SetPayload(kRpcPayload, absl::Cord(endpoint.service));
  return out;
}

bool IsRpcError(const absl::Status& status) { return status.GetPayload(kRpcPayload).has_value(); }

std::string FormatError(const absl::Status& status) {
  std::string line =
      absl::StrCat("error: ", absl::StatusCodeToString(status.code()), ": ", status.message());
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

int ReportError(const absl::Status& status, std::ostream& err) {
  if (status.ok()) return kExitOk;
  err << FormatError(status) << "\n";
  if (IsRpcError(status)) return kExitFailure;
  return ExitCodeFor(status);
}

}  // namespace latentsearch::cli

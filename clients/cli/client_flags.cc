#include "clients/cli/client_flags.h"

#include <cmath>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

ABSL_FLAG(std::string, trainer_address, "127.0.0.1:50051",
          "Address of the trainer service (HOST:PORT or unix:PATH).");
ABSL_FLAG(std::string, encoder_address, "127.0.0.1:50052",
          "Address of the encoder service (HOST:PORT or unix:PATH).");
ABSL_FLAG(std::string, search_address, "127.0.0.1:50053",
          "Address of the search service (HOST:PORT or unix:PATH).");
ABSL_FLAG(double, timeout, 30,
          "Deadline of each RPC in seconds (each upload stream counts as one); "
          "0 = none. Following a training job is never cut off.");
ABSL_FLAG(bool, json, false, "Print machine-readable JSON on stdout instead of tables.");

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
  return names;
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

absl::StatusOr<rpc::ChannelOptions> ChannelOptionsFromFlags() {
  rpc::ChannelOptions options;
  // Search results with vectors and Reconstruct answers can be large.
  options.max_receive_message_bytes = 64 << 20;
  return options;
}

absl::StatusOr<Endpoint> DialFromFlags(Service service) {
  const std::string address = AddressFromFlags(service);
  if (address.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", ServiceName(service), "_address is empty; expected HOST:PORT or unix:PATH"));
  }
  LS_ASSIGN_OR_RETURN(absl::Duration timeout, TimeoutFromFlags());
  LS_ASSIGN_OR_RETURN(rpc::ChannelOptions options, ChannelOptionsFromFlags());
  return Dial(ServiceName(service), address, timeout, options);
}

}  // namespace latentsearch::cli

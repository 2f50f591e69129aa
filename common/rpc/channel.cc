#include "common/rpc/channel.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace latentsearch::rpc {
namespace {

// The retry policy every channel gets: calls that change nothing are
// retried when the attempt found no server (UNAVAILABLE), on the next
// address where the target has several.
constexpr char kRetryMethodConfig[] = R"json("methodConfig": [{
    "name": [
      {"service": "latentsearch.v1.Search", "method": "Search"},
      {"service": "latentsearch.v1.Search", "method": "SearchBatch"},
      {"service": "latentsearch.v1.Search", "method": "ListItems"},
      {"service": "latentsearch.v1.Search", "method": "ListCollections"},
      {"service": "latentsearch.v1.Search", "method": "GetCollection"},
      {"service": "latentsearch.v1.Cluster", "method": "Status"},
      {"service": "latentsearch.v1.Encoder", "method": "Encode"},
      {"service": "latentsearch.v1.Encoder", "method": "Reconstruct"},
      {"service": "latentsearch.v1.Encoder", "method": "ListModels"},
      {"service": "latentsearch.v1.Trainer", "method": "GetJob"},
      {"service": "latentsearch.v1.Trainer", "method": "ListJobs"},
      {"service": "latentsearch.v1.Trainer", "method": "ListCheckpoints"}
    ],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.05s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }])json";

bool NamesSeveralAddresses(const std::string& target) {
  return target.rfind("dns:", 0) == 0 || target.find(',') != std::string::npos;
}

}  // namespace

std::string ServiceConfigFor(const std::string& target) {
  if (NamesSeveralAddresses(target)) {
    return absl::StrCat(R"json({"loadBalancingConfig": [{"round_robin": {}}], )json",
                        kRetryMethodConfig, "}");
  }
  return absl::StrCat("{", kRetryMethodConfig, "}");
}

std::shared_ptr<grpc::Channel> CreateChannel(const std::string& address,
                                             const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  args.SetMaxSendMessageSize(options.max_send_message_bytes);
  if (!options.ssl_target_name_override.empty()) {
    args.SetSslTargetNameOverride(options.ssl_target_name_override);
  }
  args.SetServiceConfigJSON(ServiceConfigFor(address));
  if (options.max_reconnect_backoff > absl::ZeroDuration()) {
    const int max_ms = static_cast<int>(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_ms);
    // gRPC starts at 1 s and gives each connection attempt at least 20 s.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(max_ms, 1000));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::min(max_ms, 20000));
  }
  std::shared_ptr<grpc::ChannelCredentials> creds =
      options.credentials ? options.credentials : grpc::InsecureChannelCredentials();
  return grpc::CreateCustomChannel(address, creds, args);
}

}  // namespace latentsearch::rpc

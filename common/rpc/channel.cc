#include "common/rpc/channel.h"

#include <algorithm>

#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace latentsearch::rpc {

// Every channel balances over all the addresses its target resolves to
// (round_robin: a dns:/// name of several routers or encoder replicas, or
// ipv4:A:P,B:Q) and retries calls that change nothing when the attempt
// found no server (UNAVAILABLE), on the next address.
const char kDefaultServiceConfig[] = R"json({
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
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
  }]
})json";

std::shared_ptr<grpc::Channel> CreateChannel(const std::string& address,
                                             const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  args.SetMaxSendMessageSize(options.max_send_message_bytes);
  if (!options.ssl_target_name_override.empty()) {
    args.SetSslTargetNameOverride(options.ssl_target_name_override);
  }
  args.SetServiceConfigJSON(kDefaultServiceConfig);
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

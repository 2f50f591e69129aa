// Client channels to latentsearch services (CLI, service-to-service calls,
// tests), with the project's message-size limits applied.
// Thread-safety: pure functions; channels are thread-safe.
#ifndef LATENTSEARCH_COMMON_RPC_CHANNEL_H_
#define LATENTSEARCH_COMMON_RPC_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"

namespace latentsearch::rpc {

// The service config (JSON) CreateChannel gives `target`: the retry policy,
// with round_robin when the target names several addresses.
std::string ServiceConfigFor(const std::string& target);

struct ChannelOptions {
  // Largest message the client accepts, bytes.
  int max_receive_message_bytes = 16 << 20;
  // Largest message the client sends, bytes.
  int max_send_message_bytes = 4 << 20;
  // nullptr = insecure. ApplyClientSecurity (security.h) fills it from
  // TLS files and a bearer token.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // TLS only: the name the server certificate must carry, when it is not
  // the host of the address; empty = the address's host.
  std::string ssl_target_name_override;
  // Longest wait between attempts to reconnect to an address that refused
  // or dropped the connection (calls meanwhile fail UNAVAILABLE at once);
  // 0 = gRPC's default, which grows to 120 s. A cluster router dialling
  // nodes that restart wants about its refresh interval.
  absl::Duration max_reconnect_backoff = absl::ZeroDuration();
};

// `address` is any gRPC target: "HOST:PORT", "unix:PATH", "dns:///NAME:PORT"
// (every address the name resolves to), "ipv4:A:P,B:Q". A dns: target or a
// list is balanced round-robin over its addresses (ServiceConfigFor);
// any other keeps gRPC's pick_first, which reconnects on the next call after
// its server restarted instead of failing fast while in backoff. Read-only
// calls (searches, listings, encodes) that found no server (UNAVAILABLE) are
// retried up to twice. Connects lazily.
std::shared_ptr<grpc::Channel> CreateChannel(const std::string& address,
                                             const ChannelOptions& options = {});

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_CHANNEL_H_

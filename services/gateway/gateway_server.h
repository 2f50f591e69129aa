// The gateway's HTTP/1.1 server (cpp-httplib): plain or TLS (mutual TLS
// with a client CA), bearer tokens / session cookie (auth.h), a bound on
// request bodies (413 with the error JSON), and one dispatcher that finds
// each request's route in the route table (routes.h), checks its token,
// runs its handler and records metrics. Unknown paths answer 404 and known
// paths with another method 405, both as error JSON.
//
//   LS_ASSIGN_OR_RETURN(auto server, GatewayServer::Start(options, &context));
//   LOG(INFO) << "listening on " << server->address();
//   ... server->Shutdown();
//
// Thread-safety: Start/address are safe anywhere; Shutdown may be called
// from any thread, more than once. Requests run on a pool of
// options.threads threads (an open event stream holds one).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_SERVER_H_
#define LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc/security.h"
#include "services/gateway/gateway_context.h"

namespace latentsearch::gateway {

struct GatewayServerOptions {
  // HOST:PORT; port 0 picks a free port (address() tells which).
  std::string listen = "127.0.0.1:8080";
  // TLS files (tls_cert_file + tls_key_file; tls_client_ca_file = mTLS),
  // accepted tokens and allow_insecure_tokens, as the gRPC services take.
  rpc::ServerSecurityOptions security;
  // Threads serving requests (each open event stream holds one).
  int threads = 64;
};

class GatewayServer {
 public:
  // `context` (not owned) must outlive the server; its `auth` is set from
  // options.security. INVALID_ARGUMENT for a bad address or inconsistent
  // security options (tokens without TLS or allow_insecure_tokens, a key
  // without a certificate), a TLS certificate or key that does not load;
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(const GatewayServerOptions& options,
                                                              GatewayContext* context);
  ~GatewayServer();  // Shutdown().

  // "127.0.0.1:8080" (the bound port filled in).
  const std::string& address() const { return address_; }
  // "http" or "https".
  const char* scheme() const { return tls_ ? "https" : "http"; }

  // Ends open event streams, stops accepting, waits for in-flight requests.
  void Shutdown();

 private:
  struct Impl;
  GatewayServer() = default;
  std::unique_ptr<Impl> impl_;
  std::string address_;
  bool tls_ = false;
};

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_SERVER_H_

// The server bootstrap every latentsearch service uses: listen on
// HOST:PORT or unix:PATH (port 0 picks a free port and reports it), serve
// the gRPC health service and server reflection, enforce message-size
// limits, and shut down gracefully: health goes NOT_SERVING first, in-flight
// RPCs drain until a deadline, then whatever is left is cancelled.
//
//   ServerOptions opts;
//   opts.listen = "127.0.0.1:0";
//   LS_ASSIGN_OR_RETURN(auto server, Server::Start(opts, {&my_service}));
//   LOG(INFO) << "listening on " << server->address();
//   ShutdownSignal::Install();
//   ShutdownSignal::Wait();            // SIGTERM / SIGINT
//   server->Shutdown();
//
// Thread-safety: Start/address/port are safe anywhere; SetServing* and
// Shutdown may be called from any thread, Shutdown more than once.
#ifndef LATENTSEARCH_COMMON_RPC_SERVER_H_
#define LATENTSEARCH_COMMON_RPC_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc/rpc_metrics.h"
#include "common/rpc/security.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"

namespace latentsearch::rpc {

struct ServerOptions {
  // "HOST:PORT" (IPv4, hostname, or "[IPv6]:PORT"), or "unix:PATH".
  // PORT 0 picks a free port; Server::address() tells which.
  std::string listen = "127.0.0.1:0";
  // Largest message the server accepts, bytes. Larger requests fail with
  // RESOURCE_EXHAUSTED before any handler runs.
  int max_receive_message_bytes = 4 << 20;
  // Largest message the server sends, bytes.
  int max_send_message_bytes = 16 << 20;
  // Serve grpc.reflection.v1alpha (lets grpcurl and the CLI discover RPCs).
  bool enable_reflection = true;
  // TLS, mutual TLS and bearer tokens (security.h); all off by default.
  ServerSecurityOptions security;
  // Explicit transport credentials; when set they replace `security`
  // (tests). nullptr = built from `security`.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Per-RPC counts and latencies (rpc_metrics.h) and auth failures; not
  // owned, must outlive the Server. nullptr = not measured.
  RpcMetrics* metrics = nullptr;
  // Service names the health service reports on besides "" (the whole
  // server), usually each service's full name, e.g. "latentsearch.v1.Search".
  // They start SERVING unless listed in `initially_not_serving`.
  std::vector<std::string> health_names;
  // Health names that start NOT_SERVING (e.g. the encoder until a model is
  // loaded); the service flips them with Server::SetServing.
  std::vector<std::string> initially_not_serving;
  // How long a client connection may live; then the server asks the client
  // to reconnect (HTTP/2 GOAWAY: new calls go to a new connection, calls in
  // flight get max_connection_age_grace), and a client of a dns: target
  // looks the name up again, which is how replicas added behind a headless
  // Service get traffic from clients that were already connected.
  // 0 = connections live as long as the client keeps them.
  absl::Duration max_connection_age = absl::ZeroDuration();
  absl::Duration max_connection_age_grace = absl::Seconds(30);
};

class Server {
 public:
  // Builds and starts the server with `services` (not owned; they must
  // outlive the Server). Errors: INVALID_ARGUMENT for a malformed `listen`
  // or inconsistent security options, NOT_FOUND / PERMISSION_DENIED for an
  // unreadable certificate or key, UNAVAILABLE when the address cannot be
  // bound (in use, no permission).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options,
                                                       const std::vector<grpc::Service*>& services);

  ~Server();  // Shutdown(absl::ZeroDuration()) if not done yet.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The address clients dial: "127.0.0.1:43127" (the bound port filled in
  // when 0 was asked for) or "unix:/path/to.sock".
  const std::string& address() const { return address_; }
  // The bound TCP port; 0 for unix sockets.
  int port() const { return port_; }

  // Health of one service name ("" = the whole server).
  void SetServing(const std::string& service_name, bool serving);

  // Graceful shutdown: every health status becomes NOT_SERVING, new RPCs
  // are refused, in-flight RPCs get `drain_deadline` to finish and are then
  // cancelled. Returns once the server has stopped. Idempotent.
  void Shutdown(absl::Duration drain_deadline = absl::Seconds(10));

  // Blocks until Shutdown() has completed.
  void Wait();

  grpc::Server* grpc_server() { return server_.get(); }

 private:
  Server(std::unique_ptr<grpc::Server> server, std::string address, int port);

  std::unique_ptr<grpc::Server> server_;
  const std::string address_;
  const int port_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// Splits "HOST:PORT" / "[V6]:PORT" / "unix:PATH". Exposed for tests and for
// clients that validate addresses. INVALID_ARGUMENT names what is wrong.
struct ListenAddress {
  bool is_unix = false;
  std::string host;  // Without brackets; empty for unix.
  int port = 0;      // 0..65535; 0 for unix.
  std::string path;  // Socket path for unix.
};
absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& address);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_SERVER_H_

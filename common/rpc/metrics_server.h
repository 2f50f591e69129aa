// Serves a MetricsRegistry over HTTP for Prometheus (cpp-httplib, Debian's
// libcpp-httplib-dev): GET /metrics answers the text exposition format
// (Content-Type text/plain; version=0.0.4), every other path 404.
//
//   LS_ASSIGN_OR_RETURN(auto metrics, MetricsServer::Start("127.0.0.1:0", &registry));
//   LOG: "metrics listening on " << metrics->address();
//
// Plain HTTP without authentication: bind it to loopback or a private
// network (the scrape data are counters and sizes, no payloads).
// Thread-safety: Start/address are safe anywhere; Stop may be called from
// any thread, more than once.
#ifndef LATENTSEARCH_COMMON_RPC_METRICS_SERVER_H_
#define LATENTSEARCH_COMMON_RPC_METRICS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/rpc/metrics.h"

namespace latentsearch::rpc {

class MetricsServer {
 public:
  // `listen` is HOST:PORT (port 0 picks a free port); unix sockets are not
  // supported. `registry` is not owned and must outlive the server.
  // INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it cannot be
  // bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& listen,
                                                              const MetricsRegistry* registry);

  ~MetricsServer();  // Stop().
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // "127.0.0.1:9464": the bound port filled in.
  const std::string& address() const { return address_; }
  int port() const { return port_; }

  // Closes the socket and joins the serving thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl, std::string address, int port);
  std::unique_ptr<Impl> impl_;
  const std::string address_;
  const int port_;
};

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_METRICS_SERVER_H_

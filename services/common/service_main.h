// The bootstrap the three service binaries share, so each main.cc only
// turns its own flags into its core's Options:
//
//   ServiceMain m("latentsearch-search");
//   if (absl::Status s = m.Init(argc, argv, kUsage); !s.ok()) return m.Fail(s);
//   ... build the core and the service (metrics go to m.metrics()) ...
//   rpc::ServerOptions serve;
//   serve.listen = absl::GetFlag(FLAGS_listen);
//   serve.health_names = {"latentsearch.v1.Search"};
//   if (absl::Status s = m.Start(serve, {&service}); !s.ok()) return m.Fail(s);
//   m.Announce("data_dir D, 3 collections");
//   return m.WaitAndDrain();
//
// Init parses the command line and starts glog from --log_level and --v;
// Start applies the TLS/token flags, starts /metrics (--metrics_listen),
// installs the SIGTERM/SIGINT handlers and starts the gRPC server (health,
// reflection, per-RPC metrics); WaitAndDrain waits for the signal and
// drains for --drain_seconds.
//
// Binary-side code (it reads flags). Thread-safety: for main's thread only.
#ifndef LATENTSEARCH_SERVICES_COMMON_SERVICE_MAIN_H_
#define LATENTSEARCH_SERVICES_COMMON_SERVICE_MAIN_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/rpc/metrics.h"
#include "common/rpc/metrics_server.h"
#include "common/rpc/rpc_metrics.h"
#include "common/rpc/server.h"

namespace latentsearch::services {

class ServiceMain {
 public:
  // `program` starts the binary's own log lines ("latentsearch-search").
  explicit ServiceMain(std::string program);
  // Stops /metrics if it still runs.
  ~ServiceMain();

  // Sets the usage message, parses the command line and starts logging.
  // INVALID_ARGUMENT for a bad --log_level.
  absl::Status Init(int argc, char** argv, const char* usage);

  // Logs "<program>: <status>" at ERROR; returns main's exit status (1).
  int Fail(const absl::Status& status);

  // The registry /metrics renders; per-RPC metrics are already in it.
  rpc::MetricsRegistry* metrics() { return &metrics_; }

  // Starts serving `services` (not owned; they must outlive this object's
  // WaitAndDrain) with `options` (listen address, message limits, health
  // names: what differs between the binaries); options.security comes from
  // the TLS/token flags and options.metrics is this object's per-RPC
  // metrics, replacing whatever the caller set there. Errors: as the
  // security flags, rpc::MetricsServer::Start, rpc::ShutdownSignal::Install
  // and rpc::Server::Start.
  absl::Status Start(rpc::ServerOptions options, const std::vector<grpc::Service*>& services);
  // After Start.
  rpc::Server* server() { return server_.get(); }

  // Logs "<program>: listening on ADDR (<details>, <security>)", then
  // "<program>: metrics listening on ADDR" when /metrics is on. Tests and
  // deploy/ scripts wait for these lines and take the first "listening on"
  // as the gRPC address, so they are written at any --log_level.
  void Announce(const std::string& details);

  // Blocks until SIGTERM or SIGINT, then: `before_drain`, drain the server
  // for --drain_seconds, `after_drain`, stop /metrics, destroy the server.
  // Returns 0.
  int WaitAndDrain(const std::function<void()>& before_drain = nullptr,
                   const std::function<void()>& after_drain = nullptr);

 private:
  const std::string program_;
  rpc::MetricsRegistry metrics_;
  rpc::RpcMetrics rpc_metrics_;
  rpc::ServerSecurityOptions security_;
  std::unique_ptr<rpc::MetricsServer> metrics_server_;
  std::unique_ptr<rpc::Server> server_;
};

}  // namespace latentsearch::services

#endif  // LATENTSEARCH_SERVICES_COMMON_SERVICE_MAIN_H_

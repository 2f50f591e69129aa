#include "common/rpc/metrics_server.h"

#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rpc/server.h"
#include "httplib.h"

namespace latentsearch::rpc {

struct MetricsServer::Impl {
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> finished{false};
  std::mutex stop_mu;
  bool stopped = false;  // Guarded by stop_mu.
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const MetricsRegistry* registry) {
  absl::StatusOr<ListenAddress> parsed = ParseListenAddress(listen);
  if (!parsed.ok()) return parsed.status();
  if (parsed->is_unix) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address '", listen, "': unix sockets are not supported; use HOST:PORT"));
  }
  auto impl = std::make_unique<Impl>();
  // Scrapes are rare and cheap: two threads instead of httplib's default of
  // max(8, cores - 1).
  impl->http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  impl->http.Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // httplib's default socket options add SO_REUSEPORT, which would let a
  // second process bind a port already serving metrics and split scrapes.
  impl->http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Prometheus scrapes over keep-alive connections; without TCP_NODELAY the
  // response's header and body segments meet the scraper's delayed ACK and
  // every scrape after the first takes ~40 ms (measured).
  impl->http.set_tcp_nodelay(true);
  impl->http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content(absl::StrCat("no page at ", req.path, "; metrics are at /metrics\n"),
                      "text/plain");
    }
  });
  int port = parsed->port;
  if (port == 0) {
    port = impl->http.bind_to_any_port(parsed->host);
    if (port < 0) port = 0;
  } else if (!impl->http.bind_to_port(parsed->host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on '", listen,
                     "': the address is in use, not local, or not permitted"));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->http.listen_after_bind();
    raw->finished.store(true);
  });
  // httplib's stop() does nothing until the accept loop runs: wait for it
  // (or for a failure), so Stop() right after Start() cannot hang.
  while (!raw->http.is_running() && !raw->finished.load()) std::this_thread::yield();
  std::string host = parsed->host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  const bool v6 = host.find(':') != std::string::npos;
  std::string address = v6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
  return std::unique_ptr<MetricsServer>(
      new MetricsServer(std::move(impl), std::move(address), port));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl, std::string address, int port)
    : impl_(std::move(impl)), address_(std::move(address)), port_(port) {}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  std::lock_guard<std::mutex> l(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace latentsearch::rpc

// latentsearch-gateway: HTTP/JSON over the Trainer, Encoder and Search gRPC
// services, plus the browser console (docs/gateway.md). Flags -> backends,
// thumbnails, eval jobs -> the HTTP server until SIGTERM/SIGINT, then open
// event streams are ended and in-flight requests finish. No LibTorch: the
// encoder is reached over gRPC like every other backend.
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/logging.h"
#include "common/rpc/metrics_server.h"
#include "common/rpc/security.h"
#include "common/rpc/shutdown_signal.h"
#include "services/common/server_flags.h"
#include "services/common/service_main.h"
#include "services/gateway/backends.h"
#include "services/gateway/eval_jobs.h"
#include "services/gateway/gateway_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "HOST:PORT to serve HTTP (HTTPS with --tls_cert) on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, trainer_address, "127.0.0.1:50051", "The trainer service's gRPC address");
ABSL_FLAG(std::string, encoder_address, "127.0.0.1:50052", "The encoder service's gRPC address");
ABSL_FLAG(std::string, search_address, "127.0.0.1:50053",
          "The search service's gRPC address (a standalone server or a cluster router)");
ABSL_FLAG(bool, backend_tls, false,
          "Dial the backends with TLS (system roots unless --backend_tls_ca)");
ABSL_FLAG(std::string, backend_tls_ca, "", "PEM CA the backends' certificates must chain to");
ABSL_FLAG(std::string, backend_tls_cert, "", "PEM client certificate towards the backends (mTLS)");
ABSL_FLAG(std::string, backend_tls_key, "", "PEM private key of --backend_tls_cert");
ABSL_FLAG(std::string, backend_tls_server_name, "",
          "Name the backends' certificates must carry, if not the host of their address");
ABSL_FLAG(std::string, backend_token_file, "",
          "File whose first token the gateway sends to every backend as 'authorization: Bearer "
          "TOKEN' (the caller's own token is not forwarded)");
ABSL_FLAG(double, backend_timeout_seconds, 30, "Deadline of each backend call; 0 = none");
ABSL_FLAG(int64_t, max_upload_bytes, 4 << 20,
          "Largest request body (image uploads, JSON), bytes; larger ones answer 413");
ABSL_FLAG(std::string, image_roots, "",
          "Comma-separated directories under which item images (file: uris and data-set "
          "folders, after resolving symlinks) may be read for thumbnails; empty = none");
ABSL_FLAG(int64_t, thumbnail_cache_bytes, 64 << 20, "Bytes of thumbnails kept in memory");
ABSL_FLAG(std::string, console_dir, "",
          "The console's static files; empty = <binary dir>/../console (the build's copy)");
ABSL_FLAG(int32_t, http_threads, 64, "Threads serving HTTP requests (an event stream holds one)");

namespace latentsearch::gateway {
namespace {

constexpr char kUsage[] =
    "latentsearch-gateway: HTTP/JSON and a browser console over the latentsearch trainer, "
    "encoder and search services (docs/gateway.md).";

std::string RealDir(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

std::string ConsoleDir() {
  std::string dir = absl::GetFlag(FLAGS_console_dir);
  if (dir.empty()) {
    char exe[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return "";
    exe[n] = '\0';
    std::string self(exe);
    dir = self.substr(0, self.rfind('/')) + "/../console";
  }
  return RealDir(dir);
}

absl::StatusOr<BackendOptions> BackendsFromFlags() {
  BackendOptions o;
  o.trainer_address = absl::GetFlag(FLAGS_trainer_address);
  o.encoder_address = absl::GetFlag(FLAGS_encoder_address);
  o.search_address = absl::GetFlag(FLAGS_search_address);
  const double timeout = absl::GetFlag(FLAGS_backend_timeout_seconds);
  o.timeout = timeout > 0 ? absl::Seconds(timeout) : absl::InfiniteDuration();
  absl::StatusOr<rpc::ClientSecurityOptions> security = rpc::ClientSecurityFromFiles(
      absl::GetFlag(FLAGS_backend_tls), absl::GetFlag(FLAGS_backend_tls_ca),
      absl::GetFlag(FLAGS_backend_tls_cert), absl::GetFlag(FLAGS_backend_tls_key),
      absl::GetFlag(FLAGS_backend_tls_server_name), "", absl::GetFlag(FLAGS_backend_token_file));
  if (!security.ok()) {
    return absl::Status(security.status().code(),
                        absl::StrCat("backend flags: ", security.status().message()));
  }
  o.security = *security;
  return o;
}

int Main(int argc, char** argv) {
  services::ServiceMain m("latentsearch-gateway");
  if (absl::Status s = m.Init(argc, argv, kUsage); !s.ok()) return m.Fail(s);
  absl::StatusOr<BackendOptions> backend_options = BackendsFromFlags();
  if (!backend_options.ok()) return m.Fail(backend_options.status());
  absl::StatusOr<std::unique_ptr<Backends>> backends = Backends::Create(*backend_options);
  if (!backends.ok()) return m.Fail(backends.status());
  ThumbnailOptions thumbs;
  thumbs.image_roots = absl::StrSplit(absl::GetFlag(FLAGS_image_roots), ',', absl::SkipEmpty());
  thumbs.cache_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_thumbnail_cache_bytes));
  absl::StatusOr<std::unique_ptr<Thumbnailer>> thumbnails = Thumbnailer::Create(thumbs);
  if (!thumbnails.ok()) return m.Fail(thumbnails.status());
  EvalJobs evals(backends->get(), thumbnails->get());
  GatewayMetrics metrics(m.metrics(), thumbnails->get());
  StreamRegistry streams;
  GatewayContext context;
  context.backends = backends->get();
  context.thumbnails = thumbnails->get();
  context.evals = &evals;
  context.metrics = &metrics;
  context.streams = &streams;
  context.max_upload_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_upload_bytes));
  context.console_dir = ConsoleDir();
  if (context.console_dir.empty()) {
    LOG(WARNING) << "no console files found (--console_dir): only the API is served";
  }
  rpc::ServerOptions flags;
  if (absl::Status s = services::ApplySecurityFlags(&flags); !s.ok()) return m.Fail(s);
  GatewayServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.security = flags.security;
  options.threads = absl::GetFlag(FLAGS_http_threads);
  absl::StatusOr<std::unique_ptr<rpc::MetricsServer>> metrics_server =
      services::StartMetricsFromFlags(m.metrics());
  if (!metrics_server.ok()) return m.Fail(metrics_server.status());
  if (absl::Status s = rpc::ShutdownSignal::Install(); !s.ok()) return m.Fail(s);
  absl::StatusOr<std::unique_ptr<GatewayServer>> server = GatewayServer::Start(options, &context);
  if (!server.ok()) return m.Fail(server.status());
  // Tests and scripts wait for this line and take the address after
  // "listening on "; written to stderr at any --log_level.
  std::fprintf(stderr, "latentsearch-gateway: listening on %s (%s, console %s, %s)\n",
               (*server)->address().c_str(), (*server)->scheme(),
               context.console_dir.empty() ? "off" : "at /",
               rpc::DescribeServerSecurity(options.security).c_str());
  if (*metrics_server != nullptr) {
    std::fprintf(stderr, "latentsearch-gateway: metrics listening on %s\n",
                 (*metrics_server)->address().c_str());
  }
  std::fflush(stderr);
  LOG(INFO) << "backends: trainer " << backend_options->trainer_address << ", encoder "
            << backend_options->encoder_address << ", search " << backend_options->search_address;
  const int sig = rpc::ShutdownSignal::Wait();
  LOG(INFO) << "latentsearch-gateway: signal " << sig << ", draining";
  (*server)->Shutdown();
  if (*metrics_server != nullptr) (*metrics_server)->Stop();
  LOG(INFO) << "latentsearch-gateway: stopped";
  return 0;
}

}  // namespace
}  // namespace latentsearch::gateway

int main(int argc, char** argv) { return latentsearch::gateway::Main(argc, argv); }

#include "services/gateway/gateway_server.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rpc/server.h"
#include "httplib.h"
#include "services/gateway/http_errors.h"
#include "services/gateway/routes.h"
#include "services/gateway/rpc_handlers.h"

namespace latentsearch::gateway {

struct GatewayServer::Impl {
  std::unique_ptr<httplib::Server> http;
  std::unique_ptr<HttpAuth> auth;
  GatewayContext* context = nullptr;
  std::thread thread;
  std::atomic<bool> finished{false};
  std::mutex stop_mu;
  bool stopped = false;  // Guarded by stop_mu.
};

namespace {

void Dispatch(GatewayContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto start = std::chrono::steady_clock::now();
  RouteMatch match = MatchRoute(req.method, req.path);
  std::string operation = "unmatched";
  if (match.route == nullptr) {
    if (match.other_method) {
      WriteError(res,
                 absl::UnimplementedError(absl::StrCat(req.method, " is not allowed on ", req.path,
                                                       "; see /v1/openapi.json")),
                 "gateway", 405);
    } else {
      WriteError(res,
                 absl::NotFoundError(absl::StrCat("no route for ", req.method, " ", req.path,
                                                  "; the routes are in /v1/openapi.json")),
                 "gateway");
    }
  } else {
    const Route& route = *match.route;
    operation = route.operation;
    absl::Status allowed = route.open
                               ? absl::OkStatus()
                               : ctx.auth->Check(req.get_header_value("Authorization"),
                                                 req.get_header_value("Cookie"), req.remote_addr);
    if (!allowed.ok()) {
      if (allowed.code() == absl::StatusCode::kUnauthenticated) {
        res.set_header("WWW-Authenticate", "Bearer");
      }
      WriteError(res, allowed, "gateway");
    } else {
      route.handler(route, ctx, match.params, req, res);
    }
  }
  if (ctx.metrics != nullptr) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    ctx.metrics->Request(operation, res.status, took.count());
  }
}

// httplib's own refusals (body over the limit, unreadable request) get the
// error JSON too; handlers' errors already have a body.
void OnError(size_t max_body, const httplib::Request&, httplib::Response& res) {
  if (!res.body.empty()) return;
  absl::Status status;
  if (res.status == 413) {
    status = absl::ResourceExhaustedError(
        absl::StrCat("the request body is over the gateway's limit of ", max_body,
                     " bytes (--max_upload_bytes)"));
  } else {
    status = absl::Status(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("the request could not be read (HTTP ", res.status, ")"));
  }
  res.set_content(ErrorJson(status, "gateway", res.status), "application/json");
}

absl::StatusOr<std::unique_ptr<httplib::Server>> MakeHttpServer(
    const rpc::ServerSecurityOptions& s) {
  const bool tls = !s.tls_cert_file.empty() || !s.tls_key_file.empty();
  if (!tls) {
    if (!s.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "a client CA (--tls_client_ca, mutual TLS) needs TLS: also set --tls_cert and "
          "--tls_key");
    }
    return std::make_unique<httplib::Server>();
  }
  if (s.tls_cert_file.empty() || s.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate (--tls_cert) and its private key (--tls_key)");
  }
  auto server = std::make_unique<httplib::SSLServer>(
      s.tls_cert_file.c_str(), s.tls_key_file.c_str(),
      s.tls_client_ca_file.empty() ? nullptr : s.tls_client_ca_file.c_str());
  if (!server->is_valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load the TLS certificate '", s.tls_cert_file, "' with key '", s.tls_key_file, "'",
        s.tls_client_ca_file.empty() ? ""
                                     : absl::StrCat(" or client CA '", s.tls_client_ca_file, "'")));
  }
  return std::unique_ptr<httplib::Server>(std::move(server));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    const GatewayServerOptions& options, GatewayContext* context) {
  absl::StatusOr<rpc::ListenAddress> parsed = rpc::ParseListenAddress(options.listen);
  if (!parsed.ok()) return parsed.status();
  if (parsed->is_unix) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen='", options.listen, "': the gateway serves HOST:PORT only"));
  }
  AuthOptions auth;
  auth.tokens = options.security.auth_tokens;
  auth.tls = !options.security.tls_cert_file.empty();
  auth.allow_insecure_tokens = options.security.allow_insecure_tokens;
  if (absl::Status s = HttpAuth::Validate(auth); !s.ok()) return s;
  std::unique_ptr<GatewayServer> server(new GatewayServer());
  server->tls_ = auth.tls;
  server->impl_ = std::make_unique<Impl>();
  Impl* impl = server->impl_.get();
  impl->auth = std::make_unique<HttpAuth>(auth);
  impl->context = context;
  context->auth = impl->auth.get();
  absl::StatusOr<std::unique_ptr<httplib::Server>> http = MakeHttpServer(options.security);
  if (!http.ok()) return http.status();
  impl->http = *std::move(http);
  httplib::Server& h = *impl->http;
  const int threads = options.threads;
  h.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  h.set_tcp_nodelay(true);
  h.set_keep_alive_max_count(100000);
  h.set_keep_alive_timeout(30);
  h.set_payload_max_length(context->max_upload_bytes);
  h.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  auto dispatch = [context](const httplib::Request& req, httplib::Response& res) {
    Dispatch(*context, req, res);
  };
  h.Get(".*", dispatch);
  h.Post(".*", dispatch);
  h.Delete(".*", dispatch);
  h.Put(".*", dispatch);
  h.Patch(".*", dispatch);
  const size_t max_body = context->max_upload_bytes;
  h.set_error_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    OnError(max_body, req, res);
  });
  int port = parsed->port;
  if (port == 0) {
    port = h.bind_to_any_port(parsed->host);
    if (port < 0) port = 0;
  } else if (!h.bind_to_port(parsed->host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on '", options.listen,
                                               "': the address is in use, not local, or not "
                                               "permitted"));
  }
  impl->thread = std::thread([impl] {
    impl->http->listen_after_bind();
    impl->finished.store(true);
  });
  while (!h.is_running() && !impl->finished.load()) std::this_thread::yield();
  std::string host = parsed->host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  server->address_ = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                                         : absl::StrCat(host, ":", port);
  return server;
}

GatewayServer::~GatewayServer() { Shutdown(); }

void GatewayServer::Shutdown() {
  if (impl_ == nullptr) return;
  std::lock_guard<std::mutex> l(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->context->streams->Cancel();
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace latentsearch::gateway

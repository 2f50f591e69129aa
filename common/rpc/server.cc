#include "common/rpc/server.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace latentsearch::rpc {

absl::StatusOr<ListenAddress> ParseListenAddress(const std::string& address) {
  ListenAddress out;
  if (absl::StartsWith(address, "unix:")) {
    out.is_unix = true;
    out.path = address.substr(5);
    if (out.path.empty()) {
      return absl::InvalidArgumentError(
          "listen address 'unix:' has no socket path; expected unix:PATH");
    }
    return out;
  }
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address,
                     "' has no port; expected HOST:PORT, [IPv6]:PORT or "
                     "unix:PATH"));
  }
  std::string host = address.substr(0, colon);
  std::string port_text = address.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') {
      return absl::InvalidArgumentError(
          absl::StrCat("listen address '", address, "': unbalanced '[' in IPv6 host"));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address,
                     "': an IPv6 host must be written in brackets, e.g. [::1]:50051"));
  }
  int port = -1;
  if (!absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen address '", address, "': port '",
                                                   port_text, "' is not a number in 0..65535"));
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", address,
                     "' has no host; use 127.0.0.1 (local), 0.0.0.0 (all IPv4) or [::]"));
  }
  out.host = host;
  out.port = port;
  return out;
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      const std::vector<grpc::Service*>& services) {
  absl::StatusOr<ListenAddress> parsed = ParseListenAddress(options.listen);
  if (!parsed.ok()) return parsed.status();

  // Both are process-wide switches read by every ServerBuilder; setting them
  // repeatedly is harmless.
  grpc::EnableDefaultHealthCheckService(true);
  if (options.enable_reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }

  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = options.credentials;
  if (creds == nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> built =
        MakeServerCredentials(options.security, options.listen, options.metrics);
    if (!built.ok()) return built.status();
    creds = *std::move(built);
  }
  int selected_port = 0;
  builder.AddListeningPort(options.listen, creds, &selected_port);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind a
  // port that is already serving and silently split its traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (options.max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(std::max<int64_t>(
                                   1, absl::ToInt64Milliseconds(options.max_connection_age))));
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(options.max_connection_age_grace)));
  }
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.SetMaxSendMessageSize(options.max_send_message_bytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  if (options.metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(options.metrics->NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.listen,
                     "': the address is in use, not local, or not permitted"));
  }

  std::string address;
  int port = 0;
  if (parsed->is_unix) {
    address = options.listen;
  } else {
    port = selected_port;
    std::string host = parsed->host;
    if (host == "0.0.0.0") host = "127.0.0.1";
    if (host == "::") host = "::1";
    bool v6 = host.find(':') != std::string::npos;
    address = v6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
  }

  auto out = std::unique_ptr<Server>(new Server(std::move(server), address, port));
  grpc::HealthCheckServiceInterface* health = out->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    for (const std::string& name : options.health_names) {
      health->SetServingStatus(name, true);
    }
    for (const std::string& name : options.initially_not_serving) {
      health->SetServingStatus(name, false);
    }
  }
  return out;
}

Server::Server(std::unique_ptr<grpc::Server> server, std::string address, int port)
    : server_(std::move(server)), address_(std::move(address)), port_(port) {}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

void Server::SetServing(const std::string& service_name, bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  if (service_name.empty()) {
    health->SetServingStatus(serving);
  } else {
    health->SetServingStatus(service_name, serving);
  }
}

void Server::Shutdown(absl::Duration drain_deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  // NOT_SERVING first, so health watchers and load balancers see the
  // drain before connections close. (grpc::Server::Shutdown also freezes
  // the health service at NOT_SERVING.)
  SetServing("", false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + drain_deadline));
  server_->Wait();
}

void Server::Wait() { server_->Wait(); }

}  // namespace latentsearch::rpc

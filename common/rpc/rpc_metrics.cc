#include "common/rpc/rpc_metrics.h"

#include <atomic>
#include <chrono>
#include <utility>

#include "absl/status/status.h"
#include "grpcpp/support/interceptor.h"

namespace latentsearch::rpc {
namespace {

const char* TypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// One per call: created when the call starts, records its status at
// PRE_SEND_STATUS, or CANCELLED when it is destroyed without one.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, std::string method, const char* type)
      : metrics_(metrics),
        method_(std::move(method)),
        type_(type),
        start_(std::chrono::steady_clock::now()) {
    metrics_->Started(method_, type_);
  }
  ~MetricsInterceptor() override {
    if (!recorded_.load()) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS) &&
        !recorded_.load()) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_.store(true);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
    metrics_->Handled(method_, type_, static_cast<int>(code), elapsed.count());
  }

  RpcMetrics* const metrics_;
  const std::string method_;
  const char* const type_;
  const std::chrono::steady_clock::time_point start_;
  // Reads and writes of a streaming call may be intercepted on different
  // threads; the status is sent once, and the destructor runs last.
  std::atomic<bool> recorded_{false};
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method() ? info->method() : "",
                                  TypeName(info->type()));
  }

 private:
  RpcMetrics* const metrics_;
};

}  // namespace

std::pair<std::string, std::string> SplitMethodName(const std::string& method) {
  if (method.size() > 1 && method[0] == '/') {
    const size_t slash = method.find('/', 1);
    if (slash != std::string::npos && slash > 1 && slash + 1 < method.size()) {
      return {method.substr(1, slash - 1), method.substr(slash + 1)};
    }
  }
  return {"unknown", method};
}

RpcMetrics::RpcMetrics(MetricsRegistry* registry)
    : started_(registry->AddCounter("grpc_server_started_total", "RPCs started on the server.",
                                    {"grpc_service", "grpc_method", "grpc_type"})),
      handled_(registry->AddCounter("grpc_server_handled_total",
                                    "RPCs completed on the server, by status code.",
                                    {"grpc_service", "grpc_method", "grpc_type", "grpc_code"})),
      seconds_(registry->AddHistogram(
          "grpc_server_handling_seconds",
          "Time from the start of an RPC to its status, by method and status code.",
          {"grpc_service", "grpc_method", "grpc_type", "grpc_code"}, LatencyBuckets())),
      auth_failures_(registry->AddCounter(
          "latentsearch_auth_failures_total",
          "Calls refused by bearer-token auth (UNAUTHENTICATED) before any handler ran.",
          {"reason"})) {}

void RpcMetrics::AuthFailure(const std::string& reason) {
  auth_failures_->Get({reason})->Increment();
}

void RpcMetrics::Started(const std::string& method, const char* type) {
  auto [service, name] = SplitMethodName(method);
  started_->Get({service, name, type})->Increment();
}

void RpcMetrics::Handled(const std::string& method, const char* type, int grpc_code,
                         double seconds) {
  auto [service, name] = SplitMethodName(method);
  const std::string code = absl::StatusCodeToString(static_cast<absl::StatusCode>(grpc_code));
  handled_->Get({service, name, type, code})->Increment();
  seconds_->Get({service, name, type, code})->Observe(seconds);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace latentsearch::rpc

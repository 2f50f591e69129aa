#include "services/common/service_main.h"

#include <cstdio>
#include <string>
#include <utility>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/base/logging.h"
#include "common/base/openblas_core.h"
#include "common/base/status_macros.h"
#include "common/rpc/security.h"
#include "common/rpc/shutdown_signal.h"
#include "services/common/log_flags.h"
#include "services/common/server_flags.h"

namespace latentsearch::services {
namespace {

// A line that scripts wait for: logged at INFO, and written to stderr
// as-is when --log_level hides INFO, so a quieter level never hangs them.
void LogReadiness(const std::string& line) {
  if (FLAGS_minloglevel > google::GLOG_INFO) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
    return;
  }
  LOG(INFO) << line;
}

}  // namespace

ServiceMain::ServiceMain(std::string program)
    : program_(std::move(program)), rpc_metrics_(&metrics_) {}

ServiceMain::~ServiceMain() {
  if (metrics_server_ != nullptr) metrics_server_->Stop();
}

absl::Status ServiceMain::Init(int argc, char** argv, const char* usage) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: every lock and unlock updates a global lock graph. Measured
  // here: a nested Lock/Unlock pair 123-170 ns with it, 41-43 ns without; in
  // a router serving Search, 1.8 % of its CPU went to GraphCycles alone.
  // Unit tests, which do not come through here, keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Before anything else: may re-execute the binary with OPENBLAS_CORETYPE
  // set when OpenBLAS did not know this CPU (common/base/openblas_core.h).
  base::ReexecIfOpenBlasFellBack(argv);
  absl::SetProgramUsageMessage(usage);
  absl::ParseCommandLine(argc, argv);
  const LogFlags flags = GetLogFlags();
  absl::StatusOr<base::LogLevel> level = base::ParseLogLevel(flags.level);
  // A bad level still gets logging going, so the error can be reported.
  base::InitLogging(program_.c_str(), level.ok() ? *level : base::LogLevel::kInfo, flags.verbosity);
  if (!level.ok())
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", level.status().message()));
  if (std::string blas = base::OpenBlasCoreNote(); !blas.empty()) {
    LOG(INFO) << program_ << ": " << blas;
  }
  return absl::OkStatus();
}

int ServiceMain::Fail(const absl::Status& status) {
  LOG(ERROR) << program_ << ": " << status.ToString();
  if (metrics_server_ != nullptr) metrics_server_->Stop();
  return 1;
}

absl::Status ServiceMain::Start(rpc::ServerOptions options,
                                const std::vector<grpc::Service*>& services) {
  options.metrics = &rpc_metrics_;
  LS_RETURN_IF_ERROR(ApplySecurityFlags(&options));
  security_ = options.security;
  LS_ASSIGN_OR_RETURN(metrics_server_, StartMetricsFromFlags(&metrics_));
  LS_RETURN_IF_ERROR(rpc::ShutdownSignal::Install());
  LS_ASSIGN_OR_RETURN(server_, rpc::Server::Start(options, services));
  return absl::OkStatus();
}

void ServiceMain::Announce(const std::string& details) {
  LogReadiness(absl::StrCat(program_, ": listening on ", server_->address(), " (", details, ", ",
                            rpc::DescribeServerSecurity(security_), ")"));
  // After the gRPC line: tests take the first "listening on" as the gRPC
  // address.
  if (metrics_server_ != nullptr) {
    LogReadiness(absl::StrCat(program_, ": metrics listening on ", metrics_server_->address()));
  }
}

int ServiceMain::WaitAndDrain(const std::function<void()>& before_drain,
                              const std::function<void()>& after_drain) {
  const int sig = rpc::ShutdownSignal::Wait();
  LOG(INFO) << program_ << ": signal " << sig << ", draining";
  if (before_drain) before_drain();
  server_->Shutdown(DrainFromFlags());
  if (after_drain) after_drain();
  if (metrics_server_ != nullptr) metrics_server_->Stop();
  server_.reset();  // Before main's services and cores go.
  LOG(INFO) << program_ << ": stopped";
  return 0;
}

}  // namespace latentsearch::services

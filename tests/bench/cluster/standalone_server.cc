// A standalone search server for the cluster benchmark (standalone_server.h).
// Thread-safety: one thread drives it.
#include "tests/bench/cluster/standalone_server.h"

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/testing/etcd_process.h"

namespace latentsearch::bench {

StandaloneServer::StandaloneServer(int threads)
    : threads_(threads), address_(absl::StrCat("127.0.0.1:", testing::PickUnusedLoopbackPort())) {}

absl::StatusOr<std::unique_ptr<StandaloneServer>> StandaloneServer::Start(int threads) {
  auto s = std::unique_ptr<StandaloneServer>(new StandaloneServer(threads));
  LS_RETURN_IF_ERROR(s->Launch());
  return s;
}

absl::Status StandaloneServer::Restart() {
  proc_.reset();  // SIGKILL
  return Launch();
}

absl::Status StandaloneServer::Launch() {
  LS_ASSIGN_OR_RETURN(proc_, testing::Subprocess::StartServer(
                                 {testing::BinaryPath("latentsearch-search"),
                                  "--listen=" + address_, "--data_dir=" + dir_.Join("data"),
                                  absl::StrCat("--threads=", threads_), "--drain_seconds=0"},
                                 dir_.Join(absl::StrCat("standalone.", starts_++, ".log"))));
  return absl::OkStatus();
}

}  // namespace latentsearch::bench

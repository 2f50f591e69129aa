// A throwaway single-member etcd for tests of the search cluster: started
// from the `etcd` binary (Debian's etcd-server, /usr/bin/etcd) on free
// loopback client and peer ports with a fresh data directory, ready once it
// logs that it serves client requests (read from its stderr, no sleeping),
// killed and its directory removed on destruction. Its log is kept in the
// temporary directory while it runs (log_path()).
//
//   if (!EtcdProcess::Available()) GTEST_SKIP() << EtcdProcess::kNotInstalled;
//   ASSERT_OK_AND_ASSIGN(auto etcd, EtcdProcess::Start());
//   ... etcd->endpoint() ...   // "http://127.0.0.1:PORT"
//
// Thread-safety: one thread per EtcdProcess; endpoint() may be read from
// any thread.
#ifndef LATENTSEARCH_COMMON_TESTING_ETCD_PROCESS_H_
#define LATENTSEARCH_COMMON_TESTING_ETCD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/test_env.h"

namespace latentsearch::testing {

class EtcdProcess {
 public:
  // For GTEST_SKIP when Available() is false.
  static constexpr char kNotInstalled[] =
      "etcd is not installed: deploy/install-deps.sh installs it (Debian package etcd-server)";

  // The etcd binary: the first `etcd` on $PATH, else /usr/bin/etcd; "" when
  // there is none.
  static std::string BinaryPath();
  static bool Available() { return !BinaryPath().empty(); }

  // Starts etcd and returns once it serves client requests. UNAVAILABLE
  // with the log's tail when it exits or `timeout` passes first (a port
  // taken between choosing and binding it is retried with new ports).
  static absl::StatusOr<std::unique_ptr<EtcdProcess>> Start(
      absl::Duration timeout = absl::Seconds(60));

  ~EtcdProcess();  // Kill().

  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // "http://127.0.0.1:PORT".
  const std::string& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }
  std::string log_path() const { return dir_.Join("etcd.log"); }

  // SIGKILLs etcd and waits for it; its endpoint then refuses connections.
  void Kill();

 private:
  EtcdProcess() = default;
  // One try at starting etcd on fresh ports.
  absl::Status StartOnce(const std::string& binary, absl::Duration timeout);

  TempDir dir_;  // Declared first: removed after etcd is dead.
  pid_t pid_ = -1;
  std::string endpoint_;
  std::thread drainer_;  // Copies etcd's stderr to the log.
};

// A loopback TCP port that was free a moment ago (bound to port 0, then
// closed); 0 on failure.
int PickUnusedLoopbackPort();

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_COMMON_TESTING_ETCD_PROCESS_H_

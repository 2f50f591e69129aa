// One standalone latentsearch-search (--role=standalone) for the cluster
// benchmark: what a user runs without the cluster. It keeps its loopback
// address and data dir across restarts (SIGKILL, then start again: the
// items are durable, snapshot + log), and logs into the data dir's parent.
// Thread-safety: one thread drives it; address() may be read from any.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_STANDALONE_SERVER_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_STANDALONE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"

namespace latentsearch::bench {

class StandaloneServer {
 public:
  // Starts it with --threads=`threads` under a fresh temporary directory.
  static absl::StatusOr<std::unique_ptr<StandaloneServer>> Start(int threads);

  // SIGKILLs it and starts it again on the same address and data.
  absl::Status Restart();

  const std::string& address() const { return address_; }

 private:
  explicit StandaloneServer(int threads);
  absl::Status Launch();

  const int threads_;
  testing::TempDir dir_;  // Declared before proc_: removed after it dies.
  std::string address_;
  int starts_ = 0;
  std::unique_ptr<testing::Subprocess> proc_;
};

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_STANDALONE_SERVER_H_

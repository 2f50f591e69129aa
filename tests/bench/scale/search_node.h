// One latentsearch-search process (--role=standalone) for the scale
// benchmark: started on loopback port 0 with its own data dir, stopped with
// SIGTERM (graceful) or SIGKILL (a crash) and started again on the same
// data, with its resident memory read from /proc/PID/status.
// Thread-safety: one thread drives it; stub() may be used from several
// threads while the process runs (gRPC stubs are thread-safe).
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_SEARCH_NODE_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_SEARCH_NODE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/testing/subprocess.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::bench {

// Makes SIGINT, SIGTERM and SIGHUP of the benchmark SIGKILL the node that
// runs (if any) and exit, so that an interrupted run leaves no server
// behind (its data dir stays; the log names it). Call once from main.
void KillNodeOnInterrupt();

class SearchNode {
 public:
  using Clock = std::chrono::steady_clock;

  // `binary` is the latentsearch-search to run; `data_dir` its --data_dir;
  // logs go to `log_dir`/search.<n>.log (n counts the starts). `threads` is
  // the node's --threads.
  SearchNode(std::string binary, std::string data_dir, std::string log_dir, int threads);
  ~SearchNode();  // SIGKILL if still running.

  // Starts the process and returns once it logged its address (after it
  // loaded its collections). launched_at() is the moment before the fork.
  absl::Status Launch();
  // Sends `signal` and returns the seconds until the process exited.
  double Stop(int signal);

  bool running() const { return proc_ != nullptr; }
  Clock::time_point launched_at() const { return launched_at_; }
  // Seconds from launched_at() until the address was logged.
  double listening_seconds() const { return listening_seconds_; }
  const std::string& address() const { return address_; }
  v1::Search::Stub* stub() const { return stub_.get(); }

  // VmRSS / VmHWM of the running process, bytes (0 when unreadable).
  uint64_t RssBytes() const;
  uint64_t PeakRssBytes() const;

 private:
  uint64_t StatusField(const char* key) const;

  const std::string binary_;
  const std::string data_dir_;
  const std::string log_dir_;
  const int threads_;
  int starts_ = 0;
  Clock::time_point launched_at_;
  double listening_seconds_ = 0;
  std::string address_;
  std::unique_ptr<testing::Subprocess> proc_;
  std::unique_ptr<v1::Search::Stub> stub_;
};

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_SEARCH_NODE_H_

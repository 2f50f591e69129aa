// The router's background machinery: a fixed pool of threads for calls
// that wait on nodes or etcd (WorkerPool), so that no gRPC thread waits,
// and the count of operations still running (OpTracker), which RouterCore's
// destructor waits for before it destroys what they use.
// Thread-safety: both thread-safe. ~WorkerPool runs the queued tasks, then
// joins; ~OpTracker must not run while operations hold tokens (call Wait).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_WORKERS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_WORKERS_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace latentsearch::search::cluster {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task` on a pool thread, in FIFO order.
  void Schedule(std::function<void()> task);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

class OpTracker {
 public:
  // A token held by one operation (and everything it started) until it is
  // completely done; the count drops when the last copy is released.
  std::shared_ptr<void> Hold();
  // Blocks until no token is held.
  void Wait();

 private:
  // Shared with the tokens: a token released while the tracker is being
  // destroyed still finds its mutex.
  struct State {
    absl::Mutex mu;
    int running ABSL_GUARDED_BY(mu) = 0;
  };
  const std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_WORKERS_H_

// Internal: a small persistent thread pool for the index kernels.
//
// ParallelFor(n, max_threads, fn) runs fn(0..n-1) on at most max_threads
// threads *including the caller*, which claims tasks itself instead of
// waiting idle. Because the caller always makes progress on its own tasks,
// concurrent ParallelFor calls (one per gRPC handler, say) cannot deadlock
// even when every worker is busy: they only lose parallelism.
// Thread-safety: all methods are thread-safe. fn must be safe to call
// concurrently for distinct indices.
#ifndef LATENTSEARCH_COMMON_INDEX_THREAD_POOL_H_
#define LATENTSEARCH_COMMON_INDEX_THREAD_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace latentsearch::index::internal {

class ThreadPool {
 public:
  explicit ThreadPool(int num_workers);
  ~ThreadPool();  // finishes queued jobs, joins the workers
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The process-wide pool: hardware_concurrency() - 1 workers (at least 1),
  // created on first use and never destroyed (workers may outlive static
  // destructors of other translation units).
  static ThreadPool& Shared();

  int num_workers() const { return static_cast<int>(workers_.size()); }

  // Runs fn(i) for every i in [0, n) and returns when all have finished.
  // Uses at most max_threads threads (the caller plus max_threads - 1
  // workers); max_threads <= 1 or n <= 1 runs everything inline.
  void ParallelFor(size_t n, int max_threads, const std::function<void(size_t)>& fn);

 private:
  void Submit(std::function<void()> job);
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stop_ = false;                       // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace latentsearch::index::internal

#endif  // LATENTSEARCH_COMMON_INDEX_THREAD_POOL_H_

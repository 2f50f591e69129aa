// WorkerPool and OpTracker (router_workers.h).
// Thread-safety: both under their mutexes.
#include "services/search/cluster/router_workers.h"

#include <utility>

namespace latentsearch::search::cluster {

WorkerPool::WorkerPool(int threads) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void WorkerPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_ || !tasks_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;  // Stopping, nothing left.
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

std::shared_ptr<void> OpTracker::Hold() {
  {
    absl::MutexLock lock(&state_->mu);
    ++state_->running;
  }
  return std::shared_ptr<void>(nullptr, [state = state_](void*) {
    absl::MutexLock lock(&state->mu);
    --state->running;
  });
}

void OpTracker::Wait() {
  absl::MutexLock lock(&state_->mu);
  state_->mu.Await(absl::Condition(
      +[](int* running) { return *running == 0; }, &state_->running));
}

}  // namespace latentsearch::search::cluster

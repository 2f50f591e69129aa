// The router's one-thread timer (router_timer.h).
// Thread-safety: the queue under mu_; callbacks run without it.
#include "services/search/cluster/router_timer.h"

namespace latentsearch::search::cluster {

Timer::Timer() : thread_([this] { Loop(); }) {}

Timer::~Timer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void Timer::RunAt(absl::Time when, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  due_.emplace(std::make_pair(when, next_seq_++), std::move(fn));
}

void Timer::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (due_.empty()) {
      mu_.Await(absl::Condition(
          +[](Timer* t) ABSL_NO_THREAD_SAFETY_ANALYSIS { return t->stop_ || !t->due_.empty(); },
          this));
      continue;
    }
    const absl::Time first = due_.begin()->first.first;
    if (absl::Now() < first) {
      // Wakes early when an earlier callback is scheduled or on stop.
      auto changed = [this, first]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return stop_ || due_.empty() || due_.begin()->first.first < first;
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), first);
      continue;
    }
    std::function<void()> fn = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
}

}  // namespace latentsearch::search::cluster

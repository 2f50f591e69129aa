#include "services/trainer/event_log.h"

#include <utility>

#include "absl/time/clock.h"

namespace latentsearch::trainer {

void EventLog::Append(v1::TrainingEvent event) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    event.set_job_id(job_id_);
    event.set_sequence(events_.size() + 1);
    if (!event.has_time()) {
      const int64_t nanos = absl::ToUnixNanos(absl::Now());
      event.mutable_time()->set_seconds(nanos / 1000000000);
      event.mutable_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
    }
    if (sink_) sink_(event);
    events_.push_back(std::move(event));
  }
  Notify();
}

void EventLog::Close() {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
  }
  Notify();
}

void EventLog::Notify() {
  absl::MutexLock lock(&listeners_mu_);
  for (auto& [id, listener] : listeners_) listener();
}

size_t EventLog::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

bool EventLog::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

v1::TrainingEvent EventLog::At(size_t i) const {
  absl::MutexLock lock(&mu_);
  return events_.at(i);
}

std::vector<v1::TrainingEvent> EventLog::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

bool EventLog::WaitForMore(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto ready = [this, n]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_.size() > n || closed_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return events_.size() > n;
}

uint64_t EventLog::AddListener(std::function<void()> listener) {
  absl::MutexLock lock(&listeners_mu_);
  const uint64_t id = next_listener_++;
  listeners_[id] = std::move(listener);
  return id;
}

void EventLog::RemoveListener(uint64_t id) {
  absl::MutexLock lock(&listeners_mu_);
  listeners_.erase(id);
}

}  // namespace latentsearch::trainer

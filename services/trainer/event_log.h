// A job's event history: append-only, numbered without gaps, readable from
// any point, with listeners for live delivery (the WatchTraining reactor)
// and a blocking wait (tests, synchronous readers). An optional sink sees
// every event before any reader does (the trainer persists events with it,
// job_store.h), and a log can start from a replayed history.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_EVENT_LOG_H_
#define LATENTSEARCH_SERVICES_TRAINER_EVENT_LOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "latentsearch/v1/trainer.pb.h"

namespace latentsearch::trainer {

class EventLog {
 public:
  // Called with each stamped event inside Append, before it becomes
  // visible to readers and listeners; must be quick and must not call back
  // into the log.
  using Sink = std::function<void(const v1::TrainingEvent&)>;

  explicit EventLog(std::string job_id) : job_id_(std::move(job_id)) {}
  // A log that already holds `history` (numbered 1..n, as replayed from
  // disk); new events continue the numbering and go to `sink` (may be null).
  EventLog(std::string job_id, std::vector<v1::TrainingEvent> history, Sink sink)
      : job_id_(std::move(job_id)), sink_(std::move(sink)), events_(std::move(history)) {}
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Stamps job_id, sequence (1, 2, ...) and time (if unset), appends, wakes
  // waiters and calls the listeners. Ignored once closed.
  void Append(v1::TrainingEvent event);
  // No more events will come; wakes waiters and listeners. Idempotent.
  void Close();

  size_t size() const;
  bool closed() const;
  // Event i (0-based, i < size()).
  v1::TrainingEvent At(size_t i) const;
  std::vector<v1::TrainingEvent> Snapshot() const;

  // Blocks until more than n events exist or the log is closed, at most
  // `timeout`. True when more than n events exist.
  bool WaitForMore(size_t n, absl::Duration timeout) const;

  // `listener` runs on the appending thread after every Append and on
  // Close, outside the log's data lock (it may call size()/At()). After
  // RemoveListener returns, the listener is neither running nor called again.
  uint64_t AddListener(std::function<void()> listener);
  void RemoveListener(uint64_t id);

  const std::string& job_id() const { return job_id_; }

 private:
  void Notify();

  const std::string job_id_;
  const Sink sink_;
  mutable absl::Mutex mu_;
  std::vector<v1::TrainingEvent> events_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Serialises listener calls with RemoveListener (lock order:
  // listeners_mu_ before any lock a listener takes, then mu_).
  absl::Mutex listeners_mu_;
  std::map<uint64_t, std::function<void()>> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  uint64_t next_listener_ ABSL_GUARDED_BY(listeners_mu_) = 1;
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_EVENT_LOG_H_

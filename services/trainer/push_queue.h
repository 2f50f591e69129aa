// Pushing stored checkpoints to one encoder: the CheckpointPusher interface
// (a gRPC client in push_client.h, fakes in tests), the retry policy, and
// PushQueue, one thread per encoder address that pushes its checkpoints in
// order with retries and exponential backoff, so a dead encoder's retries
// never delay the others. Every attempt is appended to the job's event log
// as a PushEvent and every failed one is logged (glog) with its cause.
//
// Thread-safety: CheckpointPusher implementations must be thread-safe;
// PushQueue::Add is thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_PUSH_QUEUE_H_
#define LATENTSEARCH_SERVICES_TRAINER_PUSH_QUEUE_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/model/checkpoint.h"
#include "services/trainer/event_log.h"

namespace latentsearch::trainer {

// Sends one checkpoint to one encoder. Implementations must be thread-safe
// (targets are pushed to concurrently).
class CheckpointPusher {
 public:
  virtual ~CheckpointPusher() = default;
  // Blocks until the encoder answered. UNAVAILABLE (and DEADLINE_EXCEEDED,
  // RESOURCE_EXHAUSTED) are retried by the caller; other errors are final.
  virtual absl::Status Push(const std::string& target, const model::Checkpoint& checkpoint) = 0;
};

// True for the codes a failed push is retried on (see CheckpointPusher).
bool IsRetryablePushError(absl::StatusCode code);

// Retries of a failed push: attempt k (k >= 2) waits
// min(initial × multiplier^(k−2), max) before it starts.
struct BackoffPolicy {
  int max_attempts = 6;
  absl::Duration initial = absl::Milliseconds(500);
  double multiplier = 2.0;
  absl::Duration max = absl::Seconds(30);
};

class PushQueue {
 public:
  struct Options {
    std::string target;  // The encoder's address.
    // Not owned; must outlive the queue.
    CheckpointPusher* pusher = nullptr;
    BackoffPolicy backoff;
    // Waits between attempts; returns false when the wait was cut short
    // (shutting down): the push is then abandoned. Required.
    std::function<bool(absl::Duration)> wait;
  };

  struct Task {
    std::shared_ptr<const model::Checkpoint> checkpoint;
    // The job's event log; receives one PushEvent per attempt.
    std::shared_ptr<EventLog> log;
    // Called once (on the queue's thread) when the task has ended: pushed,
    // given up, abandoned, or dropped unstarted at destruction.
    std::function<void()> done;
  };

  // Starts the queue's thread.
  explicit PushQueue(Options options);
  // Lets the push in flight end (its waits must end at once: `wait` returns
  // false once shutting down), drops the tasks not started (their `done`
  // runs; the checkpoints stay in the store) and joins the thread.
  ~PushQueue();

  void Add(Task task);

 private:
  void Loop();
  // Pushes with retries; appends every attempt to task.log.
  void Run(const Task& task);

  const Options options_;
  absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_PUSH_QUEUE_H_

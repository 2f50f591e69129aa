// Pushing stored checkpoints to one encoder: the CheckpointPusher interface
// (a gRPC client in push_client.h, fakes in tests), the retry policy, and
// PushQueue, one thread per encoder address that pushes its checkpoints in
// order with retries and exponential backoff, so a dead encoder's retries
// never delay the others. Every attempt is appended to the job's event log
// as a PushEvent and every failed one is logged (glog) with its cause.
//
// A target that names several replicas (push_targets.h: a dns: name, looked
// up again at every push, or an ipv4:/ipv6: list) is expanded per push, and
// the checkpoint goes to every replica at once, each with its own retries
// and its own PushEvents (PushEvent.replica_of names the entry). A replica
// that is down through every retry misses the version; the encoder pulls
// what it lacks from the trainer when it starts (docs/encoder.md).
//
// Thread-safety: CheckpointPusher implementations must be thread-safe;
// PushQueue::Add and Stop are thread-safe.
#ifndef LATENTSEARCH_SERVICES_TRAINER_PUSH_QUEUE_H_
#define LATENTSEARCH_SERVICES_TRAINER_PUSH_QUEUE_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/model/checkpoint.h"
#include "services/trainer/event_log.h"
#include "services/trainer/push_targets.h"

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
// Public for its test; PushQueue is its only user.
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
    // The encoder's address, or several replicas' (push_targets.h).
    std::string target;
    // Not owned; must outlive the queue. Required.
    CheckpointPusher* pusher = nullptr;
    BackoffPolicy backoff;
    // Waits between attempts; returns false when the wait was cut short
    // (shutting down): the push is then abandoned. Required.
    std::function<bool(absl::Duration)> wait;
    // Looks up a dns: target's host at every push; empty = ResolveHost (the
    // system resolver). A failed lookup is retried like a failed push.
    HostResolver resolve;
  };

  struct Task {
    // Required.
    std::shared_ptr<const model::Checkpoint> checkpoint;
    // The job's event log; receives one PushEvent per attempt. Required.
    std::shared_ptr<EventLog> log;
    // Called once when the task has ended, with how: OK (pushed), the last
    // attempt's error (given up), CANCELLED (abandoned in a backoff wait, or
    // dropped unstarted at shutdown). Runs on the queue's thread, or in the
    // destructor for a task added after Stop(). May be empty.
    std::function<void(const absl::Status&)> done;
  };

  // Starts the queue's thread. CHECK-fails (a programmer error) without
  // options.pusher or options.wait.
  explicit PushQueue(Options options);
  // Stop(), joins the thread, then drops tasks added after Stop().
  ~PushQueue();

  // Queues `task`. CHECK-fails (a programmer error) without task.checkpoint
  // or task.log.
  void Add(Task task);

  // Starts shutting down without waiting: the push in flight ends (its
  // waits must end at once: `wait` returns false once shutting down), the
  // tasks not started are dropped (their `done` runs with CANCELLED; the
  // checkpoints stay in the store) and so are tasks added later. Stopping
  // several queues first and then destroying them lets them wind down
  // together.
  void Stop();

 private:
  void Loop();
  // Pushes to the target, or to each of its replicas at once; returns how
  // the push ended (see Task::done): the first replica's error, if any.
  absl::Status Run(const Task& task);
  // One address with retries; appends every attempt to task.log.
  // `replica_of`: the entry `address` came from, "" for a plain target.
  absl::Status PushWithRetries(const std::string& address, const std::string& replica_of,
                               const Task& task);
  // The target's replica addresses, looking the name up again after the
  // backoff while it fails; a failed lookup is a PushEvent of the target.
  absl::StatusOr<std::vector<std::string>> ExpandWithRetries(const Task& task);
  // Runs `done` of tasks dropped unstarted, logging a warning.
  void Drop(std::deque<Task> dropped);

  const Options options_;
  absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_PUSH_QUEUE_H_

// The encoder's dynamic batcher, after TF Serving's SharedBatchScheduler and
// Triton's dynamic batcher (STYLE.md point 11). No LibTorch, no gRPC: it
// batches opaque "items" (images) of BatchTasks and hands each batch to the
// queue's BatchFn.
//
//   auto scheduler = BatchScheduler::Create(options);
//   auto queue = (*scheduler)->AddQueue("default v3", [](const Batch& b) {
//     for (const BatchSlice& s : b.slices) {
//       auto* t = static_cast<MyTask*>(s.task);   // items [s.begin, s.begin + s.count)
//       ...
//     }
//     return absl::OkStatus();
//   });
//   absl::Status s = queue->Enqueue(std::make_unique<MyTask>(...));
//   // OK: MyTask::Done runs later on a batcher thread; else the task was
//   // not taken and Done will never run.
//
// Contract:
// - Enqueue never blocks: a full queue answers UNAVAILABLE at once, a task
//   larger than the whole queue RESOURCE_EXHAUSTED, a task whose deadline
//   has already passed DEADLINE_EXCEEDED.
// - Several queues (one per model version) share the worker threads; a
//   batch holds items of one queue only, at most max_batch_size of them.
// - A queue's batch closes when it holds max_batch_size items or when its
//   oldest waiting task has waited max_queue_delay (or at shutdown).
// - Tasks whose deadline passed are dropped before compute (Done gets
//   DEADLINE_EXCEEDED). A task that was already partly computed finishes
//   DEADLINE_EXCEEDED once its running parts return.
// - A task is split across batches when it does not fit: the first part
//   fills the current batch, the rest go to the next batches, in order. The
//   BatchFn writes each slice's results at the slice's offset, so a task's
//   results are reassembled in order by construction; Done runs once, after
//   the last part, with the first error of any part (the remaining parts of
//   a failed task are not computed).
// - Done runs on a batcher thread (or, for tasks still queued when their
//   Queue is destroyed, on the destroying thread), never under a lock of the
//   scheduler, so it may finish a gRPC reactor or enqueue more work.
// - Time comes from options.clock; waiting uses that clock's readings as
//   timeouts. With a FakeClock, call Wake() after advancing it, or run with
//   num_threads = 0 and drive the scheduler with RunOnce() (deterministic,
//   no threads, no sleeps).
//
// Thread-safety: BatchScheduler and Queue are thread-safe (std::mutex, so
// the ThreadSanitizer build checks them). A BatchTask is
// owned by the scheduler from a successful Enqueue until Done returns (it is
// deleted then); its counters are touched only under the scheduler's lock.
#ifndef LATENTSEARCH_SERVICES_ENCODER_BATCH_SCHEDULER_H_
#define LATENTSEARCH_SERVICES_ENCODER_BATCH_SCHEDULER_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/encoder/clock.h"

namespace latentsearch::encoder {

// Where a finished task's time went.
struct TaskTiming {
  // The longest wait of any of its parts, from Enqueue to its batch closing.
  absl::Duration queue;
  // Sum of the compute time of the batches it was part of.
  absl::Duration compute;
  // Number of batches it was part of, and their mean size (items).
  int batches = 0;
  double mean_batch_size = 0;
};

// A unit of work of size() items. Subclass it with the inputs and an output
// buffer that the BatchFn fills per slice.
class BatchTask {
 public:
  // `size` >= 1 items; `deadline` InfiniteFuture() when there is none.
  explicit BatchTask(size_t size, absl::Time deadline = absl::InfiniteFuture())
      : size_(size), deadline_(deadline) {}
  virtual ~BatchTask() = default;
  BatchTask(const BatchTask&) = delete;
  BatchTask& operator=(const BatchTask&) = delete;

  size_t size() const { return size_; }
  absl::Time deadline() const { return deadline_; }

  // Called exactly once when every part has run (OK), a part failed (its
  // status), the deadline passed (DEADLINE_EXCEEDED) or the queue went away
  // (UNAVAILABLE). The task is deleted right after.
  virtual void Done(const absl::Status& status, const TaskTiming& timing) = 0;

 private:
  friend class BatchScheduler;
  const size_t size_;
  const absl::Time deadline_;
  // Scheduler bookkeeping, under the scheduler's mutex.
  absl::Time enqueued_;
  size_t taken_ = 0;     // Items handed to batches so far.
  int in_flight_ = 0;    // Parts in batches that are running.
  bool queued_ = false;  // Still in its queue's deque (items left to take).
  absl::Status status_;
  TaskTiming timing_;
  double batch_size_sum_ = 0;
};

// Items [begin, begin + count) of `task`.
struct BatchSlice {
  BatchTask* task = nullptr;
  size_t begin = 0;
  size_t count = 0;
};

struct Batch {
  std::vector<BatchSlice> slices;  // In queue order.
  size_t size = 0;                 // Sum of the slices' counts.
  absl::Time closed;               // When it was formed.
};

// What one computed batch looked like, for metrics (BatchSchedulerOptions::on_batch).
struct BatchReport {
  size_t size = 0;         // Items in the batch.
  absl::Duration compute;  // Time in the BatchFn.
  // Per slice: from its task's Enqueue to the batch closing (queue time).
  std::vector<absl::Duration> queue_waits;
  bool ok = true;  // The BatchFn's status.
};

// Runs one batch; the error (if any) becomes the status of every task in it.
// Must not throw. Runs on a batcher thread without any scheduler lock.
using BatchFn = std::function<absl::Status(const Batch&)>;

struct BatchSchedulerOptions {
  // Most items in one batch (>= 1). Default 32.
  size_t max_batch_size = 32;
  // How long the oldest waiting item may wait for its batch to fill. Zero:
  // a batch closes as soon as a worker is free (whatever is waiting).
  absl::Duration max_queue_delay = absl::Milliseconds(1);
  // Most items waiting per queue (>= max_batch_size). Default 4,096.
  size_t max_queue_size = 4096;
  // Worker threads shared by all queues. 0 = none: the owner calls
  // RunOnce() (tests).
  int num_threads = 1;
  // nullptr = Clock::Real(). Not owned; must outlive the scheduler.
  Clock* clock = nullptr;
  // Runs first on every worker thread (e.g. per-thread LibTorch settings).
  std::function<void(int thread_index)> on_thread_start;
  // Runs after every computed batch on the thread that computed it, without
  // any scheduler lock, before the batch's tasks are delivered (metrics).
  // Must be thread-safe and quick; nullptr = none.
  std::function<void(const BatchReport&)> on_batch;
};

// Counters since creation.
struct BatchSchedulerStats {
  uint64_t batches = 0;
  uint64_t items = 0;             // Items computed (sum of batch sizes).
  uint64_t tasks_done = 0;        // Tasks finished OK.
  uint64_t tasks_failed = 0;      // Tasks finished with an error (any).
  uint64_t deadline_dropped = 0;  // Tasks dropped for their deadline.
  uint64_t rejected_full = 0;     // Enqueues refused: queue full.
};

class BatchScheduler {
 public:
  class Queue;

  // INVALID_ARGUMENT for max_batch_size 0, max_queue_size < max_batch_size,
  // a negative delay or num_threads < 0.
  static absl::StatusOr<std::unique_ptr<BatchScheduler>> Create(
      const BatchSchedulerOptions& options);
  // Shutdown().
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // A new queue whose batches `run` computes. `name` is for messages. The
  // Queue must be destroyed before the scheduler.
  std::unique_ptr<Queue> AddQueue(std::string name, BatchFn run);

  // num_threads = 0 only: drops expired tasks and runs at most one ready
  // batch, at the clock's current time. False when there was nothing to do.
  bool RunOnce();

  // Makes the workers re-read the clock (after a FakeClock moved).
  void Wake();

  // Refuses new tasks (UNAVAILABLE), runs every waiting task without
  // waiting for batches to fill, then stops the workers. Idempotent.
  void Shutdown();

  BatchSchedulerStats stats() const;
  const BatchSchedulerOptions& options() const { return options_; }

 private:
  struct QueueState;
  struct Work;

  explicit BatchScheduler(const BatchSchedulerOptions& options);
  void WorkerLoop(int index);
  // Drops expired tasks (into work->finished) and forms at most one ready
  // batch. Returns true when `work` holds something; else *next_due is the
  // earliest time a batch becomes ready (InfiniteFuture if none waits).
  bool Collect(absl::Time now, Work* work, absl::Time* next_due) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropExpired(QueueState& q, absl::Time now, std::vector<BatchTask*>* finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FormBatch(QueueState& q, absl::Time now, Batch* batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the untaken rest of `task` from `q`.
  void Unqueue(QueueState& q, BatchTask* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AnyQueued() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs the batch in `work` and delivers every finished task (no lock held).
  void Execute(Work& work);
  absl::Status Enqueue(const std::shared_ptr<QueueState>& q, std::unique_ptr<BatchTask> task);
  void RemoveQueue(const std::shared_ptr<QueueState>& q);
  // Done + delete, counting the outcome. No lock held.
  void Deliver(BatchTask* task);

  const BatchSchedulerOptions options_;
  Clock* const clock_;
  // std::mutex rather than absl::Mutex: Debian's Abseil is not built with
  // ThreadSanitizer, which then cannot see absl::Mutex synchronise.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<QueueState>> queues_ ABSL_GUARDED_BY(mu_);
  size_t next_queue_ ABSL_GUARDED_BY(mu_) = 0;  // Round-robin start.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool joined_ ABSL_GUARDED_BY(mu_) = false;
  BatchSchedulerStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// A handle on one queue of a scheduler. Destroying it removes the queue;
// tasks still waiting finish UNAVAILABLE (their Done runs on the destroying
// thread), tasks in running batches finish normally.
// Thread-safety: thread-safe.
class BatchScheduler::Queue {
 public:
  ~Queue();
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  // Takes `task` (OK) or refuses it at once (see the file comment), in
  // which case Done is never called.
  absl::Status Enqueue(std::unique_ptr<BatchTask> task);
  // Items waiting (not yet in a batch).
  size_t queued_items() const;
  const std::string& name() const;

 private:
  friend class BatchScheduler;
  Queue(BatchScheduler* scheduler, std::shared_ptr<QueueState> state)
      : scheduler_(scheduler), state_(std::move(state)) {}
  BatchScheduler* const scheduler_;
  const std::shared_ptr<QueueState> state_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_BATCH_SCHEDULER_H_

#include "services/encoder/batch_scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"

namespace latentsearch::encoder {

Clock* Clock::Real() {
  class RealClock final : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
  };
  static RealClock* clock = new RealClock();
  return clock;
}

struct BatchScheduler::QueueState {
  std::string name;
  BatchFn run;
  // Tasks with items left to take, in arrival order (owned).
  std::deque<BatchTask*> tasks;
  size_t queued_items = 0;
  bool closed = false;
};

struct BatchScheduler::Work {
  // Tasks to deliver (already out of every queue, nothing in flight).
  std::vector<BatchTask*> finished;
  // The batch to run, if any; `queue` keeps its BatchFn alive.
  std::shared_ptr<QueueState> queue;
  Batch batch;
};

absl::StatusOr<std::unique_ptr<BatchScheduler>> BatchScheduler::Create(
    const BatchSchedulerOptions& options) {
  if (options.max_batch_size == 0) {
    return absl::InvalidArgumentError("max_batch_size must be at least 1");
  }
  if (options.max_queue_size < options.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("max_queue_size (", options.max_queue_size,
                                                   ") must be at least max_batch_size (",
                                                   options.max_batch_size, ")"));
  }
  if (options.max_queue_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("max_queue_delay must not be negative");
  }
  if (options.num_threads < 0) {
    return absl::InvalidArgumentError("num_threads must be >= 0");
  }
  std::unique_ptr<BatchScheduler> s(new BatchScheduler(options));
  for (int i = 0; i < options.num_threads; ++i) {
    s->threads_.emplace_back([p = s.get(), i] { p->WorkerLoop(i); });
  }
  return s;
}

BatchScheduler::BatchScheduler(const BatchSchedulerOptions& options)
    : options_(options), clock_(options.clock ? options.clock : Clock::Real()) {}

BatchScheduler::~BatchScheduler() { Shutdown(); }

std::unique_ptr<BatchScheduler::Queue> BatchScheduler::AddQueue(std::string name, BatchFn run) {
  auto state = std::make_shared<QueueState>();
  state->name = std::move(name);
  state->run = std::move(run);
  {
    std::lock_guard<std::mutex> l(mu_);
    queues_.push_back(state);
  }
  return std::unique_ptr<Queue>(new Queue(this, std::move(state)));
}

absl::Status BatchScheduler::Enqueue(const std::shared_ptr<QueueState>& q,
                                     std::unique_ptr<BatchTask> task) {
  const size_t n = task->size();
  if (n == 0) {
    return absl::InvalidArgumentError("a batch task needs at least one item");
  }
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_ || q->closed) {
    return absl::UnavailableError(
        absl::StrCat("queue '", q->name, "' is shutting down; retry on another replica"));
  }
  if (n > options_.max_queue_size) {
    return absl::ResourceExhaustedError(
        absl::StrCat(n, " items in one request exceed the batch queue's capacity of ",
                     options_.max_queue_size, " items; send fewer per request"));
  }
  if (q->queued_items + n > options_.max_queue_size) {
    ++stats_.rejected_full;
    return absl::UnavailableError(absl::StrCat("queue '", q->name, "' is full (", q->queued_items,
                                               " items waiting, at most ", options_.max_queue_size,
                                               "); retry with backoff"));
  }
  const absl::Time now = clock_->Now();
  if (task->deadline() <= now) {
    ++stats_.deadline_dropped;
    return absl::DeadlineExceededError("the deadline passed before the request was queued");
  }
  BatchTask* t = task.release();
  t->enqueued_ = now;
  t->queued_ = true;
  q->tasks.push_back(t);
  q->queued_items += n;
  cv_.notify_one();
  return absl::OkStatus();
}

void BatchScheduler::Unqueue(QueueState& q, BatchTask* task) {
  if (!task->queued_) return;
  auto it = std::find(q.tasks.begin(), q.tasks.end(), task);
  if (it != q.tasks.end()) q.tasks.erase(it);
  q.queued_items -= task->size_ - task->taken_;
  task->queued_ = false;
}

void BatchScheduler::DropExpired(QueueState& q, absl::Time now, std::vector<BatchTask*>* finished) {
  for (size_t i = 0; i < q.tasks.size();) {
    BatchTask* t = q.tasks[i];
    if (t->deadline_ > now) {
      ++i;
      continue;
    }
    q.tasks.erase(q.tasks.begin() + static_cast<std::ptrdiff_t>(i));
    q.queued_items -= t->size_ - t->taken_;
    t->queued_ = false;
    ++stats_.deadline_dropped;
    if (t->status_.ok()) {
      t->status_ = absl::DeadlineExceededError(absl::StrCat(
          "the deadline passed after ", absl::FormatDuration(now - t->enqueued_),
          " in the batch queue; the request was not computed", t->taken_ > 0 ? " completely" : ""));
    }
    if (t->in_flight_ == 0) finished->push_back(t);
  }
}

void BatchScheduler::FormBatch(QueueState& q, absl::Time now, Batch* batch) {
  batch->closed = now;
  const size_t max = options_.max_batch_size;
  while (batch->size < max && !q.tasks.empty()) {
    BatchTask* t = q.tasks.front();
    const size_t take = std::min(t->size_ - t->taken_, max - batch->size);
    batch->slices.push_back({t, t->taken_, take});
    batch->size += take;
    t->taken_ += take;
    ++t->in_flight_;
    q.queued_items -= take;
    if (t->taken_ == t->size_) {
      t->queued_ = false;
      q.tasks.pop_front();
    }
  }
}

bool BatchScheduler::AnyQueued() const {
  for (const auto& q : queues_) {
    if (!q->tasks.empty()) return true;
  }
  return false;
}

bool BatchScheduler::Collect(absl::Time now, Work* work, absl::Time* next_due) {
  *next_due = absl::InfiniteFuture();
  const size_t n = queues_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t idx = (next_queue_ + k) % n;
    QueueState& q = *queues_[idx];
    DropExpired(q, now, &work->finished);
    if (q.tasks.empty()) continue;
    const absl::Time due = q.tasks.front()->enqueued_ + options_.max_queue_delay;
    if (stopping_ || q.queued_items >= options_.max_batch_size || now >= due) {
      work->queue = queues_[idx];
      FormBatch(q, now, &work->batch);
      next_queue_ = idx + 1;
      return true;
    }
    *next_due = std::min(*next_due, due);
  }
  return !work->finished.empty();
}

void BatchScheduler::Deliver(BatchTask* task) {
  TaskTiming timing = task->timing_;
  if (timing.batches > 0) timing.mean_batch_size = task->batch_size_sum_ / timing.batches;
  const absl::Status status = task->status_;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (status.ok()) {
      ++stats_.tasks_done;
    } else {
      ++stats_.tasks_failed;
    }
  }
  task->Done(status, timing);
  delete task;
}

void BatchScheduler::Execute(Work& work) {
  for (BatchTask* t : work.finished) Deliver(t);
  if (work.queue == nullptr) return;
  const absl::Time start = clock_->Now();
  const absl::Status status = work.queue->run(work.batch);
  const absl::Duration compute = clock_->Now() - start;
  if (!status.ok()) {
    LOG(WARNING) << "batch of " << work.batch.size << " on queue '" << work.queue->name
                 << "' failed; its " << work.batch.slices.size()
                 << " request(s) get the error, the queue keeps serving: " << status;
  }
  std::vector<BatchTask*> done;
  BatchReport report;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.batches;
    stats_.items += work.batch.size;
    for (const BatchSlice& s : work.batch.slices) {
      BatchTask* t = s.task;
      if (options_.on_batch) report.queue_waits.push_back(work.batch.closed - t->enqueued_);
      --t->in_flight_;
      t->timing_.queue = std::max(t->timing_.queue, work.batch.closed - t->enqueued_);
      t->timing_.compute += compute;
      ++t->timing_.batches;
      t->batch_size_sum_ += static_cast<double>(work.batch.size);
      if (!status.ok() && t->status_.ok()) {
        t->status_ = status;
        Unqueue(*work.queue, t);  // Its other parts need not run.
      }
      const bool complete = t->taken_ == t->size_ || !t->status_.ok();
      if (t->in_flight_ == 0 && !t->queued_ && complete) done.push_back(t);
    }
  }
  if (options_.on_batch) {
    report.size = work.batch.size;
    report.compute = compute;
    report.ok = status.ok();
    options_.on_batch(report);
  }
  for (BatchTask* t : done) Deliver(t);
}

void BatchScheduler::WorkerLoop(int index) {
  if (options_.on_thread_start) options_.on_thread_start(index);
  for (;;) {
    Work work;
    {
      std::unique_lock<std::mutex> l(mu_);
      for (;;) {
        const absl::Time now = clock_->Now();
        absl::Time next_due;
        if (Collect(now, &work, &next_due)) break;
        if (stopping_ && !AnyQueued()) return;
        if (next_due == absl::InfiniteFuture()) {
          cv_.wait(l);
        } else {
          cv_.wait_for(l, absl::ToChronoNanoseconds(next_due - now));
        }
      }
    }
    Execute(work);
  }
}

bool BatchScheduler::RunOnce() {
  Work work;
  {
    std::lock_guard<std::mutex> l(mu_);
    absl::Time next_due;
    if (!Collect(clock_->Now(), &work, &next_due)) return false;
  }
  Execute(work);
  return true;
}

void BatchScheduler::Wake() {
  std::lock_guard<std::mutex> l(mu_);
  cv_.notify_all();
}

void BatchScheduler::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_all();
    if (joined_) return;
    joined_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  if (options_.num_threads == 0) {
    while (RunOnce()) {
    }
  }
}

BatchSchedulerStats BatchScheduler::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

void BatchScheduler::RemoveQueue(const std::shared_ptr<QueueState>& q) {
  std::vector<BatchTask*> finished;
  size_t dropped = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    q->closed = true;
    queues_.erase(std::remove(queues_.begin(), queues_.end(), q), queues_.end());
    while (!q->tasks.empty()) {
      BatchTask* t = q->tasks.front();
      q->tasks.pop_front();
      q->queued_items -= t->size_ - t->taken_;
      t->queued_ = false;
      ++dropped;
      if (t->status_.ok()) {
        t->status_ = absl::UnavailableError(absl::StrCat(
            "queue '", q->name, "' was removed (model unloaded) before the request ran"));
      }
      if (t->in_flight_ == 0) finished.push_back(t);
    }
  }
  if (dropped > 0) {
    LOG(WARNING) << "queue '" << q->name << "' removed (model unloaded) with " << dropped
                 << " request(s) not yet run; they get UNAVAILABLE";
  }
  for (BatchTask* t : finished) Deliver(t);
}

BatchScheduler::Queue::~Queue() { scheduler_->RemoveQueue(state_); }

absl::Status BatchScheduler::Queue::Enqueue(std::unique_ptr<BatchTask> task) {
  return scheduler_->Enqueue(state_, std::move(task));
}

size_t BatchScheduler::Queue::queued_items() const {
  std::lock_guard<std::mutex> l(scheduler_->mu_);
  return state_->queued_items;
}

const std::string& BatchScheduler::Queue::name() const { return state_->name; }

}  // namespace latentsearch::encoder

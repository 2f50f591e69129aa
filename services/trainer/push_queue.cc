#include "services/trainer/push_queue.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "latentsearch/v1/trainer.pb.h"

namespace latentsearch::trainer {
namespace {

std::string CodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

std::string DescribeCheckpoint(const model::CheckpointMetadata& m) {
  return absl::StrCat(m.model_name, " v", m.version);
}

// The PushEvent of attempt `attempt` that ended with `s`; `last` = no
// attempt follows, else the next one starts after `delay`.
v1::TrainingEvent AttemptEvent(const std::string& target, const std::string& replica_of,
                               const model::CheckpointMetadata& m, int attempt,
                               const absl::Status& s, bool last, absl::Duration delay) {
  v1::TrainingEvent e;
  v1::PushEvent* p = e.mutable_push();
  p->set_target(target);
  p->set_replica_of(replica_of);
  p->mutable_model()->set_name(m.model_name);
  p->mutable_model()->set_version(m.version);
  p->set_attempt(attempt);
  p->set_ok(s.ok());
  if (!s.ok()) {
    p->set_error_code(CodeName(s.code()));
    p->set_message(last && IsRetryablePushError(s.code())
                       ? absl::StrCat(s.message(), " (giving up after ", attempt, " attempts)")
                       : std::string(s.message()));
  }
  p->set_final(last);
  if (!last) {
    p->set_message(absl::StrCat(p->message(), " (retrying in ", absl::FormatDuration(delay), ")"));
  }
  return e;
}

// The final PushEvent of a push whose backoff wait was cut short.
v1::TrainingEvent AbandonedEvent(const std::string& target, const std::string& replica_of,
                                 const model::CheckpointMetadata& m, int attempt) {
  v1::TrainingEvent c;
  v1::PushEvent* cp = c.mutable_push();
  cp->set_target(target);
  cp->set_replica_of(replica_of);
  cp->mutable_model()->set_name(m.model_name);
  cp->mutable_model()->set_version(m.version);
  cp->set_attempt(attempt);
  cp->set_ok(false);
  cp->set_error_code(CodeName(absl::StatusCode::kCancelled));
  cp->set_message("trainer shutting down; push abandoned");
  cp->set_final(true);
  return c;
}

// One glog line per attempt: INFO when it succeeded, WARNING when it is
// retried, ERROR when the push failed for good.
void LogAttempt(const std::string& target, const std::string& replica_of,
                const model::CheckpointMetadata& m, int attempt, int max_attempts,
                const absl::Status& s, bool last, absl::Duration delay) {
  const std::string what =
      absl::StrCat("push of ", DescribeCheckpoint(m), " to ", target,
                   replica_of.empty() ? "" : absl::StrCat(" (replica of ", replica_of, ")"));
  if (s.ok()) {
    LOG(INFO) << what << " succeeded (attempt " << attempt << ")";
  } else if (!last) {
    LOG(WARNING) << what << " failed (attempt " << attempt << " of " << max_attempts << "): " << s
                 << "; retrying in " << absl::FormatDuration(delay);
  } else {
    LOG(ERROR) << what << " failed (attempt " << attempt << " of " << max_attempts << "): " << s
               << (IsRetryablePushError(s.code()) ? "; giving up" : "; not retryable");
  }
}

}  // namespace

bool IsRetryablePushError(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted;
}

PushQueue::PushQueue(Options options) : options_(std::move(options)) {
  CHECK(options_.pusher != nullptr) << "PushQueue to " << options_.target << ": no pusher";
  CHECK(options_.wait) << "PushQueue to " << options_.target << ": no wait function";
  thread_ = std::thread([this] { Loop(); });
}

PushQueue::~PushQueue() {
  Stop();
  thread_.join();
  // Tasks added after the thread took its last look: dropped here.
  std::deque<Task> late;
  {
    absl::MutexLock lock(&mu_);
    late.swap(tasks_);
  }
  Drop(std::move(late));
}

void PushQueue::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
}

void PushQueue::Add(Task task) {
  CHECK(task.checkpoint != nullptr) << "PushQueue to " << options_.target << ": no checkpoint";
  CHECK(task.log != nullptr) << "PushQueue to " << options_.target << ": no event log";
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void PushQueue::Loop() {
  while (true) {
    Task task;
    std::deque<Task> dropped;
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](PushQueue* q)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) { return q->stop_ || !q->tasks_.empty(); },
          this));
      stop = stop_;
      if (stop) {
        dropped.swap(tasks_);
      } else {
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
    }
    if (stop) {
      Drop(std::move(dropped));
      return;  // Tasks added from now on are dropped by the destructor.
    }
    const absl::Status s = Run(task);
    if (task.done) task.done(s);
  }
}

void PushQueue::Drop(std::deque<Task> dropped) {
  if (dropped.empty()) return;
  // Pushes not yet started are abandoned (the checkpoints stay in the store).
  LOG(WARNING) << "shutting down: " << dropped.size() << " push(es) to " << options_.target
               << " not started, dropped";
  const absl::Status cancelled =
      absl::CancelledError("trainer shutting down; push dropped before it started");
  for (Task& t : dropped) {
    if (t.done) t.done(cancelled);
  }
}

absl::Status PushQueue::Run(const Task& task) {
  if (!NamesReplicaSet(options_.target)) return PushWithRetries(options_.target, "", task);
  absl::StatusOr<std::vector<std::string>> replicas = ExpandWithRetries(task);
  if (!replicas.ok()) return replicas.status();
  // Each replica on a thread of its own, so that one that is down (retries,
  // backoff) delays no other.
  std::vector<absl::Status> results(replicas->size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < replicas->size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = PushWithRetries((*replicas)[i], options_.target, task); });
  }
  results[0] = PushWithRetries((*replicas)[0], options_.target, task);
  for (std::thread& t : threads) t.join();
  const size_t ok =
      std::count_if(results.begin(), results.end(), [](const absl::Status& s) { return s.ok(); });
  const std::string summary =
      absl::StrCat("push of ", DescribeCheckpoint(task.checkpoint->metadata), " to ",
                   options_.target, ": ", ok, " of ", results.size(), " replica(s) took it");
  if (ok == results.size()) {
    LOG(INFO) << summary;
    return absl::OkStatus();
  }
  LOG(WARNING) << summary << " (a replica that missed it pulls it when it starts)";
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PushQueue::ExpandWithRetries(const Task& task) {
  const BackoffPolicy& b = options_.backoff;
  const model::CheckpointMetadata& m = task.checkpoint->metadata;
  const HostResolver resolve = options_.resolve ? options_.resolve : HostResolver(ResolveHost);
  absl::Duration delay = b.initial;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::vector<std::string>> replicas = ExpandPushTarget(options_.target, resolve);
    if (replicas.ok()) return replicas;
    const absl::Status& s = replicas.status();
    const bool last = !IsRetryablePushError(s.code()) || attempt >= b.max_attempts;
    LogAttempt(options_.target, options_.target, m, attempt, b.max_attempts, s, last, delay);
    task.log->Append(AttemptEvent(options_.target, options_.target, m, attempt, s, last, delay));
    if (last) return s;
    if (!options_.wait(delay)) {
      task.log->Append(AbandonedEvent(options_.target, options_.target, m, attempt));
      return absl::CancelledError(absl::StrCat(
          "trainer shutting down; push abandoned after attempt ", attempt, ": ", s.message()));
    }
    delay = std::min(b.max, delay * b.multiplier);
  }
}

absl::Status PushQueue::PushWithRetries(const std::string& address, const std::string& replica_of,
                                        const Task& task) {
  const BackoffPolicy& b = options_.backoff;
  const model::CheckpointMetadata& m = task.checkpoint->metadata;
  absl::Duration delay = b.initial;
  for (int attempt = 1;; ++attempt) {
    absl::Status s = options_.pusher->Push(address, *task.checkpoint);
    const bool last = s.ok() || !IsRetryablePushError(s.code()) || attempt >= b.max_attempts;
    LogAttempt(address, replica_of, m, attempt, b.max_attempts, s, last, delay);
    task.log->Append(AttemptEvent(address, replica_of, m, attempt, s, last, delay));
    if (last) return s;
    if (!options_.wait(delay)) {
      LOG(WARNING) << "push of " << DescribeCheckpoint(m) << " to " << address
                   << " abandoned after attempt " << attempt << ": the trainer is shutting down";
      task.log->Append(AbandonedEvent(address, replica_of, m, attempt));
      return absl::CancelledError(absl::StrCat(
          "trainer shutting down; push abandoned after attempt ", attempt, ": ", s.message()));
    }
    delay = std::min(b.max, delay * b.multiplier);
  }
}

}  // namespace latentsearch::trainer

// PushQueue on its own, with a scripted pusher and a recording wait (no
// sleeps): retries follow the backoff policy, every attempt is an event,
// a cut-short wait abandons the push, `done` runs once per task with how it
// ended, and shutting down drops the pushes not started (logged).
#include "services/trainer/push_queue.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/base/log_capture.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::base::LogCapture;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Answers with `script` in order, then OK.
class ScriptedPusher final : public CheckpointPusher {
 public:
  explicit ScriptedPusher(std::vector<absl::Status> script) : script_(std::move(script)) {}
  absl::Status Push(const std::string&, const model::Checkpoint&) override {
    absl::MutexLock lock(&mu_);
    return next_ < script_.size() ? script_[next_++] : absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Status> script_;
  size_t next_ = 0;
};

struct Recorder {
  absl::Mutex mu;
  std::vector<absl::Duration> waits;
  bool allow = true;  // What the wait answers.
};

// Runs one task through a queue; returns the task's PushEvents and sets
// `*status` to what its `done` was given.
std::vector<v1::PushEvent> PushOnce(ScriptedPusher* pusher, const BackoffPolicy& backoff,
                                    Recorder* rec, absl::Status* status = nullptr) {
  auto log = std::make_shared<EventLog>("job-1");
  absl::Notification done;
  absl::Status ended = absl::UnknownError("done not run");
  {
    PushQueue::Options o;
    o.target = "encoder-a";
    o.pusher = pusher;
    o.backoff = backoff;
    o.wait = [rec](absl::Duration d) {
      absl::MutexLock lock(&rec->mu);
      rec->waits.push_back(d);
      return rec->allow;
    };
    PushQueue queue(std::move(o));
    auto checkpoint = std::make_shared<model::Checkpoint>();
    checkpoint->metadata.model_name = "m";
    checkpoint->metadata.version = 3;
    queue.Add(PushQueue::Task{checkpoint, log, [&](const absl::Status& s) {
                                ended = s;
                                done.Notify();
                              }});
    done.WaitForNotification();
  }
  if (status != nullptr) *status = ended;
  std::vector<v1::PushEvent> out;
  for (const v1::TrainingEvent& e : log->Snapshot()) out.push_back(e.push());
  return out;
}

TEST(PushQueueTest, RetriesWithExponentialBackoffAndGivesUpAtMaxAttempts) {
  ScriptedPusher pusher(std::vector<absl::Status>(10, absl::UnavailableError("down")));
  BackoffPolicy b;
  b.max_attempts = 4;
  b.initial = absl::Milliseconds(100);
  b.multiplier = 3;
  b.max = absl::Milliseconds(500);
  Recorder rec;
  absl::Status status;
  std::vector<v1::PushEvent> p = PushOnce(&pusher, b, &rec, &status);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "down"));
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(rec.waits,
            (std::vector<absl::Duration>{absl::Milliseconds(100), absl::Milliseconds(300),
                                         absl::Milliseconds(500)}));
  EXPECT_EQ(p[0].message(), "down (retrying in 100ms)");
  EXPECT_FALSE(p[0].final());
  EXPECT_EQ(p[3].message(), "down (giving up after 4 attempts)");
  EXPECT_TRUE(p[3].final());
  EXPECT_EQ(p[3].attempt(), 4u);
  EXPECT_EQ(p[3].model().name(), "m");
  EXPECT_EQ(p[3].model().version(), 3u);
  EXPECT_EQ(p[3].target(), "encoder-a");
}

TEST(PushQueueTest, NonRetryableErrorIsFinalAtOnce) {
  ScriptedPusher pusher({absl::DataLossError("SHA-256 mismatch")});
  Recorder rec;
  absl::Status status;
  std::vector<v1::PushEvent> p = PushOnce(&pusher, BackoffPolicy(), &rec, &status);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kDataLoss, "SHA-256 mismatch"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].error_code(), "DATA_LOSS");
  EXPECT_EQ(p[0].message(), "SHA-256 mismatch");
  EXPECT_TRUE(p[0].final());
  EXPECT_TRUE(rec.waits.empty());
}

TEST(PushQueueTest, ACutShortWaitAbandonsThePush) {
  ScriptedPusher pusher({absl::UnavailableError("down")});
  Recorder rec;
  rec.allow = false;
  absl::Status status;
  std::vector<v1::PushEvent> p = PushOnce(&pusher, BackoffPolicy(), &rec, &status);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled, HasSubstr("push abandoned")));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_FALSE(p[0].final());
  EXPECT_EQ(p[1].error_code(), "CANCELLED");
  EXPECT_EQ(p[1].message(), "trainer shutting down; push abandoned");
  EXPECT_EQ(p[1].attempt(), 1u);
  EXPECT_TRUE(p[1].final());
}

TEST(PushQueueTest, AGoodPushEndsOk) {
  ScriptedPusher pusher({});
  Recorder rec;
  absl::Status status = absl::UnknownError("not set");
  std::vector<v1::PushEvent> p = PushOnce(&pusher, BackoffPolicy(), &rec, &status);
  EXPECT_TRUE(status.ok()) << status;
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(p[0].ok());
  EXPECT_TRUE(p[0].final());
}

TEST(PushQueueTest, RetryableCodes) {
  EXPECT_TRUE(IsRetryablePushError(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsRetryablePushError(absl::StatusCode::kDeadlineExceeded));
  EXPECT_TRUE(IsRetryablePushError(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(IsRetryablePushError(absl::StatusCode::kOk));
  EXPECT_FALSE(IsRetryablePushError(absl::StatusCode::kDataLoss));
  EXPECT_FALSE(IsRetryablePushError(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(IsRetryablePushError(absl::StatusCode::kAlreadyExists));
  EXPECT_FALSE(IsRetryablePushError(absl::StatusCode::kUnauthenticated));
  EXPECT_FALSE(IsRetryablePushError(absl::StatusCode::kCancelled));
}

// The first push blocks until the test releases it; later ones succeed at
// once. Records the versions pushed.
class BlockingPusher final : public CheckpointPusher {
 public:
  absl::Status Push(const std::string&, const model::Checkpoint& c) override {
    bool first;
    {
      absl::MutexLock lock(&mu_);
      first = versions_.empty();
      versions_.push_back(c.metadata.version);
    }
    if (first) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return absl::OkStatus();
  }
  void WaitUntilBlocked() { entered_.WaitForNotification(); }
  void Release() { release_.Notify(); }
  std::vector<uint64_t> versions() {
    absl::MutexLock lock(&mu_);
    return versions_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> versions_ ABSL_GUARDED_BY(mu_);
  absl::Notification entered_, release_;
};

std::shared_ptr<const model::Checkpoint> CheckpointV(uint64_t version) {
  auto c = std::make_shared<model::Checkpoint>();
  c->metadata.model_name = "m";
  c->metadata.version = version;
  return c;
}

PushQueue::Options QueueOptions(CheckpointPusher* pusher) {
  PushQueue::Options o;
  o.target = "encoder-a";
  o.pusher = pusher;
  o.wait = [](absl::Duration) { return false; };
  return o;
}

TEST(PushQueueTest, ShutdownLetsThePushInFlightEndAndDropsTheOthers) {
  BlockingPusher pusher;
  LogCapture logs(google::GLOG_WARNING);
  auto log = std::make_shared<EventLog>("job-1");
  // Written on the queue's thread, read after it was joined.
  std::vector<absl::Status> ended(3, absl::UnknownError("done not run"));
  auto done = [&ended](int i) { return [&ended, i](const absl::Status& s) { ended[i] = s; }; };
  {
    PushQueue queue(QueueOptions(&pusher));
    queue.Add(PushQueue::Task{CheckpointV(1), log, done(0)});
    pusher.WaitUntilBlocked();
    queue.Add(PushQueue::Task{CheckpointV(2), log, done(1)});
    queue.Add(PushQueue::Task{CheckpointV(3), log, done(2)});
    queue.Stop();
    pusher.Release();
  }  // Joins the queue's thread.
  EXPECT_TRUE(ended[0].ok()) << ended[0];
  EXPECT_THAT(ended[1], StatusIs(absl::StatusCode::kCancelled, HasSubstr("dropped")));
  EXPECT_THAT(ended[2], StatusIs(absl::StatusCode::kCancelled, HasSubstr("dropped")));
  EXPECT_THAT(pusher.versions(), ElementsAre(1u));
  // Only the push that ran has an event.
  std::vector<v1::TrainingEvent> events = log->Snapshot();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].push().ok());
  EXPECT_EQ(events[0].push().model().version(), 1u);
  EXPECT_THAT(logs.messages(),
              Contains(AllOf(HasSubstr("2 push(es) to encoder-a not started, dropped"),
                             HasSubstr("shutting down"))));
}

TEST(PushQueueTest, ATaskAddedAfterStopIsDroppedNotLost) {
  ScriptedPusher pusher({});
  auto log = std::make_shared<EventLog>("job-1");
  absl::Status ended = absl::UnknownError("done not run");
  {
    PushQueue queue(QueueOptions(&pusher));
    queue.Stop();
    queue.Add(PushQueue::Task{CheckpointV(1), log, [&ended](const absl::Status& s) { ended = s; }});
  }
  EXPECT_THAT(ended, StatusIs(absl::StatusCode::kCancelled, HasSubstr("dropped")));
  EXPECT_THAT(log->Snapshot(), IsEmpty());
}

// Records every address pushed to; the addresses in `down` answer
// UNAVAILABLE every time.
class ReplicaPusher final : public CheckpointPusher {
 public:
  explicit ReplicaPusher(std::vector<std::string> down = {}) : down_(std::move(down)) {}
  absl::Status Push(const std::string& target, const model::Checkpoint&) override {
    absl::MutexLock lock(&mu_);
    pushed_.push_back(target);
    if (std::find(down_.begin(), down_.end(), target) != down_.end()) {
      return absl::UnavailableError("connection refused");
    }
    return absl::OkStatus();
  }
  std::vector<std::string> pushed() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> p = pushed_;
    std::sort(p.begin(), p.end());
    return p;
  }

 private:
  absl::Mutex mu_;
  const std::vector<std::string> down_;
  std::vector<std::string> pushed_;
};

// Pushes versions 1..n of "m" through one queue to `target`; returns the
// PushEvents and each task's final status.
std::vector<v1::PushEvent> PushVersions(const std::string& target, CheckpointPusher* pusher,
                                        HostResolver resolve, int n,
                                        std::vector<absl::Status>* statuses) {
  auto log = std::make_shared<EventLog>("job-1");
  statuses->assign(n, absl::UnknownError("done not run"));
  {
    PushQueue::Options o;
    o.target = target;
    o.pusher = pusher;
    o.backoff.max_attempts = 3;
    o.wait = [](absl::Duration) { return true; };
    o.resolve = std::move(resolve);
    PushQueue queue(std::move(o));
    std::vector<std::unique_ptr<absl::Notification>> done;
    for (int v = 1; v <= n; ++v) {
      auto checkpoint = std::make_shared<model::Checkpoint>();
      checkpoint->metadata.model_name = "m";
      checkpoint->metadata.version = v;
      done.push_back(std::make_unique<absl::Notification>());
      absl::Notification* d = done.back().get();
      absl::Status* st = &(*statuses)[v - 1];
      queue.Add(PushQueue::Task{checkpoint, log, [d, st](const absl::Status& s) {
                                  *st = s;
                                  d->Notify();
                                }});
    }
    for (auto& d : done) d->WaitForNotification();
  }
  std::vector<v1::PushEvent> out;
  for (const v1::TrainingEvent& e : log->Snapshot()) out.push_back(e.push());
  return out;
}

TEST(PushQueueTest, ADnsTargetIsResolvedAtEveryPushAndEveryReplicaGetsTheCheckpoint) {
  ReplicaPusher pusher;
  int lookups = 0;
  // The second push finds a third replica (scaled up between the pushes).
  HostResolver resolve = [&lookups](const std::string& host) {
    EXPECT_EQ(host, "encoder");
    ++lookups;
    std::vector<std::string> ips = {"10.0.0.1", "10.0.0.2"};
    if (lookups > 1) ips.push_back("10.0.0.3");
    return absl::StatusOr<std::vector<std::string>>(ips);
  };
  std::vector<absl::Status> statuses;
  std::vector<v1::PushEvent> p =
      PushVersions("dns:///encoder:50052", &pusher, resolve, 2, &statuses);
  EXPECT_EQ(lookups, 2);
  EXPECT_OK(statuses[0]);
  EXPECT_OK(statuses[1]);
  EXPECT_THAT(pusher.pushed(), ElementsAre("10.0.0.1:50052", "10.0.0.1:50052", "10.0.0.2:50052",
                                           "10.0.0.2:50052", "10.0.0.3:50052"));
  ASSERT_EQ(p.size(), 5u);
  for (const v1::PushEvent& e : p) {
    EXPECT_TRUE(e.ok());
    EXPECT_TRUE(e.final());
    EXPECT_EQ(e.replica_of(), "dns:///encoder:50052");
  }
}

TEST(PushQueueTest, AReplicaThatIsDownIsReportedAndDelaysNoOther) {
  LogCapture logs;
  ReplicaPusher pusher({"127.0.0.1:1002"});
  std::vector<absl::Status> statuses;
  std::vector<v1::PushEvent> p =
      PushVersions("ipv4:127.0.0.1:1001,127.0.0.1:1002", &pusher, nullptr, 1, &statuses);
  EXPECT_THAT(statuses[0], StatusIs(absl::StatusCode::kUnavailable, "connection refused"));
  int good = 0;
  int bad = 0;
  for (const v1::PushEvent& e : p) {
    EXPECT_EQ(e.replica_of(), "ipv4:127.0.0.1:1001,127.0.0.1:1002");
    if (e.target() == "127.0.0.1:1001") {
      ++good;
      EXPECT_TRUE(e.ok());
    } else {
      ++bad;
      EXPECT_EQ(e.target(), "127.0.0.1:1002");
      EXPECT_EQ(e.error_code(), "UNAVAILABLE");
      EXPECT_EQ(e.final(), e.attempt() == 3);
    }
  }
  EXPECT_EQ(good, 1);
  EXPECT_EQ(bad, 3);
  EXPECT_THAT(logs.messages(), Contains(HasSubstr("1 of 2 replica(s) took it")));
}

TEST(PushQueueTest, ANameThatDoesNotResolveIsRetriedThenReported) {
  ReplicaPusher pusher;
  HostResolver nowhere = [](const std::string& host) -> absl::StatusOr<std::vector<std::string>> {
    return absl::UnavailableError("'" + host + "' does not resolve: Name or service not known");
  };
  std::vector<absl::Status> statuses;
  std::vector<v1::PushEvent> p =
      PushVersions("dns:///no-such-encoder:50052", &pusher, nowhere, 1, &statuses);
  EXPECT_THAT(statuses[0], StatusIs(absl::StatusCode::kUnavailable,
                                    HasSubstr("'no-such-encoder' does not resolve")));
  EXPECT_THAT(pusher.pushed(), IsEmpty());
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].target(), "dns:///no-such-encoder:50052");
  EXPECT_EQ(p[2].replica_of(), "dns:///no-such-encoder:50052");
  EXPECT_TRUE(p[2].final());
  EXPECT_THAT(p[2].message(), HasSubstr("giving up after 3 attempts"));
  EXPECT_FALSE(p[0].final());
}

TEST(PushQueueDeathTest, MissingRequiredFieldsAreProgrammerErrors) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ScriptedPusher pusher({});
  PushQueue::Options no_pusher = QueueOptions(nullptr);
  EXPECT_DEATH(PushQueue q(no_pusher), "no pusher");
  PushQueue::Options no_wait = QueueOptions(&pusher);
  no_wait.wait = nullptr;
  EXPECT_DEATH(PushQueue q(no_wait), "no wait function");
  EXPECT_DEATH(
      {
        PushQueue q(QueueOptions(&pusher));
        q.Add(PushQueue::Task{nullptr, std::make_shared<EventLog>("job-1"), nullptr});
      },
      "no checkpoint");
}

}  // namespace
}  // namespace latentsearch::trainer

// PushQueue on its own, with a scripted pusher and a recording wait (no
// sleeps): retries follow the backoff policy, every attempt is an event,
// a cut-short wait abandons the push, and `done` runs once per task.
#include "services/trainer/push_queue.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

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

// Runs one task through a queue; returns the task's PushEvents.
std::vector<v1::PushEvent> PushOnce(ScriptedPusher* pusher, const BackoffPolicy& backoff,
                                    Recorder* rec) {
  auto log = std::make_shared<EventLog>("job-1");
  absl::Notification done;
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
    queue.Add(PushQueue::Task{checkpoint, log, [&done] { done.Notify(); }});
    done.WaitForNotification();
  }
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
  std::vector<v1::PushEvent> p = PushOnce(&pusher, b, &rec);
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
  std::vector<v1::PushEvent> p = PushOnce(&pusher, BackoffPolicy(), &rec);
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
  std::vector<v1::PushEvent> p = PushOnce(&pusher, BackoffPolicy(), &rec);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_FALSE(p[0].final());
  EXPECT_EQ(p[1].error_code(), "CANCELLED");
  EXPECT_EQ(p[1].message(), "trainer shutting down; push abandoned");
  EXPECT_EQ(p[1].attempt(), 1u);
  EXPECT_TRUE(p[1].final());
}

}  // namespace
}  // namespace latentsearch::trainer

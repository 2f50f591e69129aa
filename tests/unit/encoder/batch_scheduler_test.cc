// The dynamic batcher with a fake clock: batch formation by size and by
// delay, queue overflow, deadline drops, splitting, ordering of results,
// failures, queue removal and shutdown. Most tests run the scheduler without
// threads (num_threads = 0, RunOnce) so every step is deterministic; the
// threaded tests wait on completions, never on time.
#include "services/encoder/batch_scheduler.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/base/log_capture.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/encoder/clock.h"
#include "tests/unit/encoder/sync.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::base::LogCapture;
using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What a finished task saw.
struct Record {
  bool done = false;
  int done_calls = 0;
  absl::Status status;
  TaskTiming timing;
  std::vector<int> outputs;
  std::thread::id thread;
  int finish_order = -1;
};

// Item i of task `id` has input id * 1000 + i; the batch function writes
// 2 × input to output i.
class TestTask final : public BatchTask {
 public:
  TestTask(int id, size_t n, Record* record, std::atomic<int>* order,
           absl::Time deadline = absl::InfiniteFuture(),
           testing::BlockingCounter* counter = nullptr)
      : BatchTask(n, deadline),
        id_(id),
        record_(record),
        order_(order),
        counter_(counter),
        outputs_(n, -1) {}

  int input(size_t i) const { return id_ * 1000 + static_cast<int>(i); }
  int id() const { return id_; }
  std::vector<int>& outputs() { return outputs_; }

  void Done(const absl::Status& status, const TaskTiming& timing) override {
    record_->done = true;
    ++record_->done_calls;
    record_->status = status;
    record_->timing = timing;
    record_->outputs = outputs_;
    record_->thread = std::this_thread::get_id();
    record_->finish_order = order_->fetch_add(1);
    if (counter_ != nullptr) counter_->DecrementCount();
  }

 private:
  const int id_;
  Record* const record_;
  std::atomic<int>* const order_;
  testing::BlockingCounter* const counter_;
  std::vector<int> outputs_;
};

std::vector<int> Expected(int id, size_t n) {
  std::vector<int> v;
  for (size_t i = 0; i < n; ++i) v.push_back(2 * (id * 1000 + static_cast<int>(i)));
  return v;
}

// Fills every slice's outputs.
absl::Status Compute(const Batch& b) {
  for (const BatchSlice& s : b.slices) {
    auto* t = static_cast<TestTask*>(s.task);
    for (size_t i = s.begin; i < s.begin + s.count; ++i) t->outputs()[i] = 2 * t->input(i);
  }
  return absl::OkStatus();
}

// One slice as the batch function saw it.
struct SliceLog {
  int task;
  size_t begin;
  size_t count;
  bool operator==(const SliceLog& o) const {
    return task == o.task && begin == o.begin && count == o.count;
  }
};

void PrintTo(const SliceLog& s, std::ostream* os) {
  *os << "{task " << s.task << " [" << s.begin << ", +" << s.count << ")}";
}

class BatchSchedulerTest : public ::testing::Test {
 protected:
  void Init(size_t max_batch, absl::Duration delay, size_t max_queue = 64) {
    BatchSchedulerOptions o;
    o.max_batch_size = max_batch;
    o.max_queue_delay = delay;
    o.max_queue_size = max_queue;
    o.num_threads = 0;
    o.clock = &clock_;
    o.on_batch = on_batch_;
    auto s = BatchScheduler::Create(o);
    ASSERT_THAT(s, IsOk());
    scheduler_ = std::move(*s);
    queue_ = scheduler_->AddQueue("test", [this](const Batch& b) { return Run(b); });
  }

  void TearDown() override {
    queue_.reset();
    scheduler_.reset();
  }

  absl::Status Run(const Batch& batch) {
    std::vector<SliceLog> log;
    for (const BatchSlice& s : batch.slices) {
      auto* t = static_cast<TestTask*>(s.task);
      log.push_back({t->id(), s.begin, s.count});
      for (size_t i = s.begin; i < s.begin + s.count; ++i) t->outputs()[i] = 2 * t->input(i);
    }
    std::lock_guard<std::mutex> l(mu_);
    batches_.push_back(log);
    clock_.Advance(compute_time_);
    if (fail_batch_ == static_cast<int>(batches_.size())) {
      return absl::InternalError("forward pass failed");
    }
    return absl::OkStatus();
  }

  absl::Status Add(int id, size_t n, absl::Time deadline = absl::InfiniteFuture()) {
    records_.emplace_back(std::make_unique<Record>());
    return queue_->Enqueue(
        std::make_unique<TestTask>(id, n, records_.back().get(), &order_, deadline));
  }
  Record& rec(int i) { return *records_[i]; }
  std::vector<std::vector<SliceLog>> batches() {
    std::lock_guard<std::mutex> l(mu_);
    return batches_;
  }

  FakeClock clock_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<BatchScheduler::Queue> queue_;
  std::vector<std::unique_ptr<Record>> records_;
  std::atomic<int> order_{0};
  std::mutex mu_;
  std::vector<std::vector<SliceLog>> batches_ ABSL_GUARDED_BY(mu_);
  absl::Duration compute_time_ = absl::ZeroDuration();
  int fail_batch_ = -1;                               // 1-based batch number that fails.
  std::function<void(const BatchReport&)> on_batch_;  // Set before Init.
};

TEST_F(BatchSchedulerTest, OnBatchReportsSizeComputeAndQueueWaits) {
  std::vector<BatchReport> reports;
  on_batch_ = [&reports](const BatchReport& r) { reports.push_back(r); };
  Init(/*max_batch=*/8, absl::Microseconds(100));
  compute_time_ = absl::Microseconds(250);
  ASSERT_OK(Add(0, 2));
  clock_.Advance(absl::Microseconds(40));
  ASSERT_OK(Add(1, 1));
  clock_.Advance(absl::Microseconds(60));
  EXPECT_TRUE(scheduler_->RunOnce());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].size, 3u);
  EXPECT_EQ(reports[0].compute, absl::Microseconds(250));
  EXPECT_THAT(reports[0].queue_waits, ElementsAre(absl::Microseconds(100), absl::Microseconds(60)));
  EXPECT_TRUE(reports[0].ok);
  EXPECT_TRUE(rec(0).done) << "tasks are still delivered";

  fail_batch_ = 2;
  ASSERT_OK(Add(2, 1));
  clock_.Advance(absl::Microseconds(100));
  EXPECT_TRUE(scheduler_->RunOnce());
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_FALSE(reports[1].ok);
  EXPECT_EQ(reports[1].size, 1u);
}

TEST_F(BatchSchedulerTest, RejectsBadOptions) {
  BatchSchedulerOptions o;
  o.max_batch_size = 0;
  EXPECT_THAT(BatchScheduler::Create(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_batch_size")));
  o.max_batch_size = 8;
  o.max_queue_size = 4;
  EXPECT_THAT(BatchScheduler::Create(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_queue_size")));
}

TEST_F(BatchSchedulerTest, FullBatchRunsWithoutWaiting) {
  Init(/*max_batch=*/4, absl::Seconds(1));
  for (int i = 0; i < 3; ++i) ASSERT_OK(Add(i, 1));
  EXPECT_FALSE(scheduler_->RunOnce()) << "3 of 4 items and no time passed";
  ASSERT_OK(Add(3, 1));
  EXPECT_TRUE(scheduler_->RunOnce());
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_THAT(batches()[0], ElementsAre(SliceLog{0, 0, 1}, SliceLog{1, 0, 1}, SliceLog{2, 0, 1},
                                        SliceLog{3, 0, 1}));
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(rec(i).done);
    EXPECT_OK(rec(i).status);
    EXPECT_EQ(rec(i).outputs, Expected(i, 1));
    EXPECT_EQ(rec(i).timing.batches, 1);
    EXPECT_EQ(rec(i).timing.mean_batch_size, 4.0);
    EXPECT_EQ(rec(i).timing.queue, absl::ZeroDuration());
  }
  EXPECT_FALSE(scheduler_->RunOnce());
}

TEST_F(BatchSchedulerTest, PartialBatchRunsWhenTheOldestHasWaitedTheDelay) {
  Init(/*max_batch=*/8, absl::Microseconds(100));
  ASSERT_OK(Add(0, 2));
  clock_.Advance(absl::Microseconds(40));
  ASSERT_OK(Add(1, 1));
  clock_.Advance(absl::Microseconds(59));
  EXPECT_FALSE(scheduler_->RunOnce()) << "oldest waited 99 us of 100";
  clock_.Advance(absl::Microseconds(1));
  EXPECT_TRUE(scheduler_->RunOnce());
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_THAT(batches()[0], ElementsAre(SliceLog{0, 0, 2}, SliceLog{1, 0, 1}));
  EXPECT_EQ(rec(0).timing.queue, absl::Microseconds(100));
  EXPECT_EQ(rec(1).timing.queue, absl::Microseconds(60));
  EXPECT_EQ(rec(0).timing.mean_batch_size, 3.0);
}

TEST_F(BatchSchedulerTest, ZeroDelayTakesWhateverIsWaiting) {
  Init(/*max_batch=*/8, absl::ZeroDuration());
  ASSERT_OK(Add(0, 1));
  ASSERT_OK(Add(1, 2));
  EXPECT_TRUE(scheduler_->RunOnce());
  EXPECT_THAT(batches()[0], ElementsAre(SliceLog{0, 0, 1}, SliceLog{1, 0, 2}));
}

TEST_F(BatchSchedulerTest, FullQueueIsRefusedAtOnce) {
  Init(/*max_batch=*/4, absl::Seconds(1), /*max_queue=*/8);
  for (int i = 0; i < 4; ++i) ASSERT_OK(Add(i, 2));
  EXPECT_THAT(Add(4, 1), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("full")));
  EXPECT_THAT(Add(5, 9),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("capacity of 8")));
  EXPECT_EQ(queue_->queued_items(), 8u);
  EXPECT_EQ(scheduler_->stats().rejected_full, 1u);
  // Refused tasks are never completed.
  EXPECT_FALSE(rec(4).done);
  EXPECT_FALSE(rec(5).done);
  // Space comes back once a batch has been taken.
  EXPECT_TRUE(scheduler_->RunOnce());
  EXPECT_EQ(queue_->queued_items(), 4u);
  EXPECT_OK(Add(6, 4));
}

TEST_F(BatchSchedulerTest, ExpiredDeadlinesAreDroppedBeforeCompute) {
  Init(/*max_batch=*/8, absl::Microseconds(100));
  const absl::Time t0 = clock_.Now();
  ASSERT_OK(Add(0, 1, t0 + absl::Microseconds(50)));
  ASSERT_OK(Add(1, 1));
  ASSERT_OK(Add(2, 2, t0 + absl::Microseconds(500)));
  clock_.Advance(absl::Microseconds(100));
  EXPECT_TRUE(scheduler_->RunOnce());
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_THAT(batches()[0], ElementsAre(SliceLog{1, 0, 1}, SliceLog{2, 0, 2}));
  EXPECT_THAT(rec(0).status,
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("not computed")));
  EXPECT_EQ(rec(0).outputs, std::vector<int>{-1});
  EXPECT_OK(rec(1).status);
  EXPECT_OK(rec(2).status);
  EXPECT_EQ(scheduler_->stats().deadline_dropped, 1u);
  // A deadline already gone at Enqueue is refused there.
  EXPECT_THAT(Add(3, 1, clock_.Now()), StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_FALSE(rec(3).done);
}

TEST_F(BatchSchedulerTest, ExpiredQueueOnlyDropsWithoutComputing) {
  Init(/*max_batch=*/8, absl::Microseconds(100));
  ASSERT_OK(Add(0, 3, clock_.Now() + absl::Microseconds(10)));
  clock_.Advance(absl::Microseconds(10));
  EXPECT_TRUE(scheduler_->RunOnce()) << "dropping counts as work";
  EXPECT_TRUE(batches().empty());
  EXPECT_THAT(rec(0).status, StatusIs(absl::StatusCode::kDeadlineExceeded, ::testing::_));
  EXPECT_EQ(queue_->queued_items(), 0u);
}

TEST_F(BatchSchedulerTest, LargeTaskIsSplitAcrossBatchesAndReassembledInOrder) {
  Init(/*max_batch=*/4, absl::Microseconds(100));
  ASSERT_OK(Add(0, 10));
  ASSERT_OK(Add(1, 1));
  EXPECT_TRUE(scheduler_->RunOnce());
  EXPECT_FALSE(rec(0).done) << "only 4 of 10 items computed";
  EXPECT_TRUE(scheduler_->RunOnce());
  EXPECT_FALSE(rec(0).done);
  EXPECT_FALSE(scheduler_->RunOnce()) << "3 items left, not due yet";
  clock_.Advance(absl::Microseconds(100));
  EXPECT_TRUE(scheduler_->RunOnce());
  EXPECT_FALSE(scheduler_->RunOnce());
  ASSERT_EQ(batches().size(), 3u);
  EXPECT_THAT(batches()[0], ElementsAre(SliceLog{0, 0, 4}));
  EXPECT_THAT(batches()[1], ElementsAre(SliceLog{0, 4, 4}));
  EXPECT_THAT(batches()[2], ElementsAre(SliceLog{0, 8, 2}, SliceLog{1, 0, 1}));
  EXPECT_EQ(rec(0).done_calls, 1);
  EXPECT_OK(rec(0).status);
  EXPECT_EQ(rec(0).outputs, Expected(0, 10));
  EXPECT_EQ(rec(0).timing.batches, 3);
  EXPECT_DOUBLE_EQ(rec(0).timing.mean_batch_size, (4 + 4 + 3) / 3.0);
  EXPECT_EQ(rec(0).timing.queue, absl::Microseconds(100)) << "the longest part's wait";
  EXPECT_EQ(rec(1).outputs, Expected(1, 1));
}

TEST_F(BatchSchedulerTest, SplitTaskFillsTheRestOfABatch) {
  Init(/*max_batch=*/4, absl::ZeroDuration());
  ASSERT_OK(Add(0, 3));
  ASSERT_OK(Add(1, 3));
  ASSERT_OK(Add(2, 2));
  while (scheduler_->RunOnce()) {
  }
  ASSERT_EQ(batches().size(), 2u);
  EXPECT_THAT(batches()[0], ElementsAre(SliceLog{0, 0, 3}, SliceLog{1, 0, 1}));
  EXPECT_THAT(batches()[1], ElementsAre(SliceLog{1, 1, 2}, SliceLog{2, 0, 2}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rec(i).outputs, Expected(i, i == 2 ? 2 : 3));
}

TEST_F(BatchSchedulerTest, ResultsAreDeliveredInArrivalOrder) {
  Init(/*max_batch=*/5, absl::ZeroDuration());
  const std::vector<size_t> sizes = {2, 7, 1, 1, 4, 3, 6};
  for (size_t i = 0; i < sizes.size(); ++i) ASSERT_OK(Add(static_cast<int>(i), sizes[i]));
  while (scheduler_->RunOnce()) {
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(rec(i).finish_order, static_cast<int>(i)) << "task " << i;
    EXPECT_EQ(rec(i).outputs, Expected(static_cast<int>(i), sizes[i]));
  }
  size_t items = 0;
  for (const auto& b : batches()) {
    size_t n = 0;
    for (const SliceLog& s : b) n += s.count;
    EXPECT_LE(n, 5u);
    items += n;
  }
  EXPECT_EQ(items, 24u);
  EXPECT_EQ(batches().size(), 5u) << "24 items in batches of 5";
}

TEST_F(BatchSchedulerTest, FailedPartFailsTheTaskAndSkipsItsRest) {
  Init(/*max_batch=*/4, absl::ZeroDuration());
  fail_batch_ = 2;
  ASSERT_OK(Add(0, 12));
  ASSERT_OK(Add(1, 2));
  LogCapture logs(google::GLOG_WARNING);
  while (scheduler_->RunOnce()) {
  }
  EXPECT_THAT(logs.messages(), ElementsAre(AllOf(HasSubstr("batch of 4"), HasSubstr("failed"),
                                                 HasSubstr("forward pass failed"))));
  // Batch 1: items 0..3 of task 0; batch 2 (fails): 4..7; 8..11 never run.
  ASSERT_EQ(batches().size(), 3u);
  EXPECT_THAT(batches()[2], ElementsAre(SliceLog{1, 0, 2}));
  EXPECT_EQ(rec(0).done_calls, 1);
  EXPECT_THAT(rec(0).status, StatusIs(absl::StatusCode::kInternal, HasSubstr("forward")));
  EXPECT_OK(rec(1).status);
}

TEST_F(BatchSchedulerTest, DeadlineDuringASplitTaskDropsItsRest) {
  Init(/*max_batch=*/4, absl::ZeroDuration());
  ASSERT_OK(Add(0, 8, clock_.Now() + absl::Microseconds(30)));
  compute_time_ = absl::Microseconds(50);  // The first part outlives the deadline.
  while (scheduler_->RunOnce()) {
  }
  ASSERT_EQ(batches().size(), 1u);
  EXPECT_THAT(rec(0).status,
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("completely")));
}

TEST_F(BatchSchedulerTest, TimingCountsQueueAndCompute) {
  Init(/*max_batch=*/2, absl::Microseconds(200));
  compute_time_ = absl::Microseconds(70);
  ASSERT_OK(Add(0, 1));
  clock_.Advance(absl::Microseconds(200));
  ASSERT_TRUE(scheduler_->RunOnce());
  EXPECT_EQ(rec(0).timing.queue, absl::Microseconds(200));
  EXPECT_EQ(rec(0).timing.compute, absl::Microseconds(70));
}

TEST_F(BatchSchedulerTest, QueuesAreBatchedSeparatelyAndInTurn) {
  Init(/*max_batch=*/4, absl::ZeroDuration());
  std::vector<std::vector<int>> other_batches;
  auto other = scheduler_->AddQueue("other", [&](const Batch& b) {
    std::vector<int> ids;
    for (const BatchSlice& s : b.slices) {
      auto* t = static_cast<TestTask*>(s.task);
      ids.push_back(t->id());
      for (size_t i = s.begin; i < s.begin + s.count; ++i) t->outputs()[i] = 2 * t->input(i);
    }
    other_batches.push_back(ids);
    return absl::OkStatus();
  });
  Record r1, r2;
  ASSERT_OK(Add(0, 4));
  ASSERT_OK(Add(1, 4));
  ASSERT_OK(other->Enqueue(std::make_unique<TestTask>(7, 1, &r1, &order_)));
  ASSERT_OK(other->Enqueue(std::make_unique<TestTask>(8, 1, &r2, &order_)));
  ASSERT_TRUE(scheduler_->RunOnce());
  ASSERT_TRUE(scheduler_->RunOnce());
  // Round robin: one batch of each queue before the second of the first.
  EXPECT_EQ(batches().size(), 1u);
  ASSERT_EQ(other_batches.size(), 1u);
  EXPECT_THAT(other_batches[0], ElementsAre(7, 8));
  ASSERT_TRUE(scheduler_->RunOnce());
  EXPECT_FALSE(scheduler_->RunOnce());
  EXPECT_EQ(batches().size(), 2u);
  EXPECT_EQ(r1.outputs, Expected(7, 1));
}

TEST_F(BatchSchedulerTest, RemovingAQueueFailsItsWaitingTasks) {
  Init(/*max_batch=*/4, absl::Seconds(1));
  ASSERT_OK(Add(0, 1));
  LogCapture logs(google::GLOG_WARNING);
  queue_.reset();
  EXPECT_THAT(rec(0).status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("removed")));
  EXPECT_THAT(logs.messages(), ElementsAre(HasSubstr("removed (model unloaded) with 1 request")));
  EXPECT_FALSE(scheduler_->RunOnce());
}

TEST_F(BatchSchedulerTest, ShutdownRunsWhatIsWaitingThenRefuses) {
  Init(/*max_batch=*/4, absl::Seconds(1));
  ASSERT_OK(Add(0, 1));
  ASSERT_OK(Add(1, 6));
  scheduler_->Shutdown();
  EXPECT_OK(rec(0).status);
  EXPECT_EQ(rec(1).outputs, Expected(1, 6));
  EXPECT_THAT(Add(2, 1), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
}

// Worker threads: completions arrive on them; producers never block.
TEST(BatchSchedulerThreadsTest, ManyProducersAllComplete) {
  FakeClock clock;
  BatchSchedulerOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay = absl::ZeroDuration();
  o.max_queue_size = 4096;
  o.num_threads = 2;
  o.clock = &clock;
  std::atomic<int> started{0};
  o.on_thread_start = [&](int) { started.fetch_add(1); };
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BatchScheduler> s, BatchScheduler::Create(o));
  std::atomic<bool> oversized{false};
  auto queue = s->AddQueue("q", [&](const Batch& b) {
    if (b.size > 8) oversized = true;
    return Compute(b);
  });
  constexpr int kProducers = 4, kPerProducer = 50, kTasks = kProducers * kPerProducer;
  std::vector<Record> records(kTasks);
  std::atomic<int> order{0};
  testing::BlockingCounter remaining(kTasks);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int k = 0; k < kPerProducer; ++k) {
        const int id = p * kPerProducer + k;
        EXPECT_OK(queue->Enqueue(std::make_unique<TestTask>(id, 1 + id % 11, &records[id], &order,
                                                            absl::InfiniteFuture(), &remaining)));
      }
    });
  }
  for (auto& t : producers) t.join();
  remaining.Wait();
  for (int id = 0; id < kTasks; ++id) {
    EXPECT_OK(records[id].status);
    EXPECT_EQ(records[id].outputs, Expected(id, 1 + id % 11)) << "task " << id;
    EXPECT_NE(records[id].thread, std::this_thread::get_id());
  }
  EXPECT_FALSE(oversized.load());
  queue.reset();
  s->Shutdown();
  EXPECT_EQ(started.load(), 2);  // Every worker has run the hook once joined.
  EXPECT_EQ(s->stats().tasks_done, static_cast<uint64_t>(kTasks));
}

// A worker waiting for the delay wakes when the fake clock moved and it is
// told so; nothing sleeps.
TEST(BatchSchedulerThreadsTest, WorkerWaitsForTheDelayOnTheInjectedClock) {
  FakeClock clock;
  BatchSchedulerOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay = absl::Seconds(3600);  // Never reached in real time.
  o.num_threads = 1;
  o.clock = &clock;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BatchScheduler> s, BatchScheduler::Create(o));
  auto queue = s->AddQueue("q", Compute);
  Record record;
  std::atomic<int> order{0};
  testing::BlockingCounter done(1);
  ASSERT_OK(queue->Enqueue(
      std::make_unique<TestTask>(5, 2, &record, &order, absl::InfiniteFuture(), &done)));
  clock.Advance(absl::Seconds(3600));
  s->Wake();
  done.Wait();
  EXPECT_OK(record.status);
  EXPECT_EQ(record.outputs, Expected(5, 2));
  EXPECT_EQ(record.timing.queue, absl::Seconds(3600));
  queue.reset();
}

// Shutdown with threads drains what waits without waiting for the delay.
TEST(BatchSchedulerThreadsTest, ShutdownDrains) {
  FakeClock clock;
  BatchSchedulerOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay = absl::Seconds(3600);
  o.num_threads = 2;
  o.clock = &clock;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<BatchScheduler> s, BatchScheduler::Create(o));
  auto queue = s->AddQueue("q", Compute);
  std::vector<Record> records(3);
  std::atomic<int> order{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(queue->Enqueue(std::make_unique<TestTask>(i, 3, &records[i], &order)));
  }
  s->Shutdown();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(records[i].outputs, Expected(i, 3));
  queue.reset();
}

}  // namespace
}  // namespace latentsearch::encoder

// JobStore: records, event logs and snapshots round-trip; a torn event tail
// (a crash mid-append) is dropped and cut off so appends go on; a corrupt
// record is skipped, never half-loaded; a corrupt snapshot is DATA_LOSS.
#include "services/trainer/job_store.h"

#include <fstream>
#include <string>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;

v1::Job MakeJob(const std::string& id, v1::JobState state) {
  v1::Job j;
  j.set_job_id(id);
  j.set_state(state);
  j.set_step(7);
  j.mutable_config()->set_model_name("m");
  return j;
}

v1::TrainingEvent StepEvent(uint64_t seq) {
  v1::TrainingEvent e;
  e.set_sequence(seq);
  e.mutable_step()->set_step(seq * 10);
  return e;
}

TEST(JobStoreTest, RoundTripsRecordsEventsAndSnapshots) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, JobStore::Open(dir.Join("jobs")));
    ASSERT_OK(store->SaveJob(MakeJob("job-000002", v1::JOB_STATE_RUNNING)));
    ASSERT_OK(store->SaveJob(MakeJob("job-000001", v1::JOB_STATE_SUCCEEDED)));
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_OK(store->AppendEvent("job-000002", StepEvent(i)));
    ASSERT_OK(store->SaveSnapshot("job-000002", 30, "state bytes"));
  }
  ASSERT_OK_AND_ASSIGN(auto store, JobStore::Open(dir.Join("jobs")));
  ASSERT_OK_AND_ASSIGN(std::vector<StoredJob> jobs, store->LoadAll());
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].job.job_id(), "job-000001");
  EXPECT_TRUE(jobs[0].events.empty());
  EXPECT_EQ(jobs[1].job.state(), v1::JOB_STATE_RUNNING);
  ASSERT_EQ(jobs[1].events.size(), 3u);
  EXPECT_EQ(jobs[1].events[2].step().step(), 30u);
  ASSERT_OK_AND_ASSIGN(JobStore::Snapshot s, store->LoadSnapshot("job-000002"));
  EXPECT_EQ(s.step, 30u);
  EXPECT_EQ(s.bytes, "state bytes");
  EXPECT_THAT(store->LoadSnapshot("job-000001").status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(JobStoreTest, TornEventTailIsDroppedAndAppendsContinue) {
  TempDir dir;
  const std::string log = dir.Join("jobs/job-000001/events.log");
  {
    ASSERT_OK_AND_ASSIGN(auto store, JobStore::Open(dir.Join("jobs")));
    ASSERT_OK(store->SaveJob(MakeJob("job-000001", v1::JOB_STATE_RUNNING)));
    for (uint64_t i = 1; i <= 2; ++i) ASSERT_OK(store->AppendEvent("job-000001", StepEvent(i)));
  }
  {
    std::ofstream out(log, std::ios::binary | std::ios::app);
    out.write("\x40\x00\x00\x00\x01\x02", 6);  // Half a record header.
  }
  ASSERT_OK_AND_ASSIGN(auto store, JobStore::Open(dir.Join("jobs")));
  ASSERT_OK_AND_ASSIGN(std::vector<StoredJob> jobs, store->LoadAll());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].events.size(), 2u);
  ASSERT_OK(store->AppendEvent("job-000001", StepEvent(3)));
  ASSERT_OK_AND_ASSIGN(jobs, store->LoadAll());
  ASSERT_EQ(jobs[0].events.size(), 3u);
  EXPECT_EQ(jobs[0].events[2].sequence(), 3u);
}

TEST(JobStoreTest, CorruptRecordIsSkippedAndCorruptSnapshotIsDataLoss) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store, JobStore::Open(dir.Join("jobs")));
  ASSERT_OK(store->SaveJob(MakeJob("job-000001", v1::JOB_STATE_RUNNING)));
  ASSERT_OK(store->SaveJob(MakeJob("job-000002", v1::JOB_STATE_RUNNING)));
  ASSERT_OK(store->SaveSnapshot("job-000001", 5, "abc"));
  ASSERT_OK_AND_ASSIGN(std::string rec, base::ReadFile(dir.Join("jobs/job-000001/job.rec")));
  rec.back() ^= 1;
  ASSERT_OK(base::WriteFileAtomically(dir.Join("jobs/job-000001/job.rec"), rec));
  ASSERT_OK_AND_ASSIGN(std::string snap, base::ReadFile(dir.Join("jobs/job-000001/snapshot.bin")));
  snap.back() ^= 1;
  ASSERT_OK(base::WriteFileAtomically(dir.Join("jobs/job-000001/snapshot.bin"), snap));
  ASSERT_OK_AND_ASSIGN(std::vector<StoredJob> jobs, store->LoadAll());
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].job.job_id(), "job-000002");
  EXPECT_THAT(store->LoadSnapshot("job-000001").status(),
              StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
}

}  // namespace
}  // namespace latentsearch::trainer

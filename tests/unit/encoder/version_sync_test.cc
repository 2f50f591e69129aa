// VersionSync with a fake checkpoint source and a real registry over the
// fake runner (no LibTorch, no gRPC): a replica pulls the newest
// keep_versions versions of every name it lacks (also into an empty
// registry, the emptyDir case), skips what it holds, reports what failed
// without stopping, and a background pass runs until Stop. No sleeps: the
// background test waits for the source's second listing.
#include "services/encoder/version_sync.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/encoder/fake_runner.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using testing::FakeCheckpoint;
using testing::FakeRunnerFactory;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::RunnerLog;

// A trainer's store in memory.
class FakeSource final : public CheckpointSource {
 public:
  void Add(model::Checkpoint c) {
    absl::MutexLock lock(&mu_);
    const auto key = std::make_pair(c.metadata.model_name, c.metadata.version);
    store_[key] = std::move(c);
  }
  void set_list_error(absl::Status s) {
    absl::MutexLock lock(&mu_);
    list_error_ = std::move(s);
  }
  // Fetch of this version answers `s`.
  void FailFetch(const std::string& name, uint64_t version, absl::Status s) {
    absl::MutexLock lock(&mu_);
    fetch_errors_[{name, version}] = std::move(s);
  }
  int fetches() const {
    absl::MutexLock lock(&mu_);
    return fetches_;
  }
  // Blocks until List has been called `n` times.
  void WaitForLists(int n) const {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return lists_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }

  std::string Describe() const override { return "fake trainer"; }
  absl::StatusOr<std::vector<model::CheckpointMetadata>> List(absl::Time) override {
    absl::MutexLock lock(&mu_);
    ++lists_;
    if (!list_error_.ok()) return list_error_;
    std::vector<model::CheckpointMetadata> out;
    for (const auto& [key, c] : store_) out.push_back(c.metadata);
    return out;
  }
  absl::StatusOr<model::Checkpoint> Fetch(const std::string& name, uint64_t version,
                                          absl::Time) override {
    absl::MutexLock lock(&mu_);
    ++fetches_;
    if (auto it = fetch_errors_.find({name, version}); it != fetch_errors_.end()) {
      return it->second;
    }
    auto it = store_.find({name, version});
    if (it == store_.end()) return absl::NotFoundError("no such checkpoint");
    return it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, uint64_t>, model::Checkpoint> store_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, uint64_t>, absl::Status> fetch_errors_ ABSL_GUARDED_BY(mu_);
  absl::Status list_error_ ABSL_GUARDED_BY(mu_);
  int lists_ ABSL_GUARDED_BY(mu_) = 0;
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

class VersionSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BatchSchedulerOptions so;
    so.num_threads = 0;
    so.max_batch_size = 2;
    so.max_queue_delay = absl::ZeroDuration();
    scheduler_ = *BatchScheduler::Create(so);
    ModelRegistryOptions o;
    o.data_dir = dir_.path();
    o.keep_versions = 2;
    o.factory = FakeRunnerFactory(std::make_shared<RunnerLog>());
    o.scheduler = scheduler_.get();
    o.warmup_batch_sizes = {1};
    registry_ = *ModelRegistry::Create(o);
    VersionSyncOptions so2;
    so2.source = &source_;
    so2.registry = registry_.get();
    so2.keep_versions = 2;
    so2.interval = absl::Milliseconds(1);
    so2.on_pass = [this](const absl::StatusOr<SyncReport>& r) {
      absl::MutexLock lock(&passes_mu_);
      passes_.push_back(r.ok() ? r->Summary("fake trainer") : r.status().ToString());
    };
    sync_ = *VersionSync::Create(so2);
  }
  void TearDown() override {
    sync_.reset();
    registry_.reset();
    scheduler_.reset();
  }
  std::vector<uint64_t> Held(const std::string& name) {
    std::vector<uint64_t> v;
    auto snap = registry_->snapshot();
    auto it = snap->models.find(name);
    if (it == snap->models.end()) return v;
    for (const auto& s : it->second) v.push_back(s->version());
    return v;
  }
  absl::StatusOr<SyncReport> Sync() { return sync_->SyncOnce(absl::InfiniteFuture()); }

  TempDir dir_;
  FakeSource source_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<VersionSync> sync_;
  absl::Mutex passes_mu_;
  std::vector<std::string> passes_ ABSL_GUARDED_BY(passes_mu_);  // From on_pass.
};

TEST_F(VersionSyncTest, PullsTheNewestVersionsItLacksAndSkipsWhatItHolds) {
  ASSERT_OK(registry_->Push(FakeCheckpoint("default", 1, "v1")).status());
  for (uint64_t v : {1, 2, 3}) source_.Add(FakeCheckpoint("default", v, "v" + std::to_string(v)));
  source_.Add(FakeCheckpoint("other", 7, "o7"));
  ASSERT_OK_AND_ASSIGN(SyncReport r, Sync());
  EXPECT_THAT(r.pulled, ElementsAre("default v2", "default v3", "other v7"));
  EXPECT_EQ(r.already_held, 0);  // v1 is not among the newest two.
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_THAT(Held("default"), ElementsAre(3, 2));
  EXPECT_THAT(Held("other"), ElementsAre(7));
  EXPECT_EQ(r.Summary("fake trainer"),
            "pulled 3 version(s) from fake trainer: default v2, default v3, other v7; 0 already "
            "held");
  {
    absl::MutexLock lock(&passes_mu_);
    EXPECT_THAT(passes_, ElementsAre(r.Summary("fake trainer"))) << "on_pass saw the pass";
  }
  const int fetches = source_.fetches();
  ASSERT_OK_AND_ASSIGN(SyncReport again, Sync());
  EXPECT_THAT(again.pulled, IsEmpty());
  EXPECT_EQ(again.already_held, 3);
  EXPECT_EQ(source_.fetches(), fetches) << "nothing held is fetched again";
}

TEST_F(VersionSyncTest, AnEmptyReplicaGetsTheNewestVersions) {
  for (uint64_t v : {4, 5, 6}) source_.Add(FakeCheckpoint("m", v, "w" + std::to_string(v)));
  ASSERT_OK_AND_ASSIGN(SyncReport r, Sync());
  EXPECT_THAT(r.pulled, ElementsAre("m v5", "m v6"));
  EXPECT_THAT(Held("m"), ElementsAre(6, 5));
}

TEST_F(VersionSyncTest, FailuresAreReportedAndTheRestIsStillPulled) {
  ASSERT_OK(registry_->Push(FakeCheckpoint("m", 2, "mine")).status());
  source_.Add(FakeCheckpoint("m", 2, "the trainer's"));  // Same version, other bytes.
  source_.Add(FakeCheckpoint("m", 3, "w3"));
  source_.Add(FakeCheckpoint("n", 1, "n1"));
  source_.FailFetch("n", 1, absl::DataLossError("SHA-256 mismatch"));
  ASSERT_OK_AND_ASSIGN(SyncReport r, Sync());
  EXPECT_THAT(r.pulled, ElementsAre("m v3"));
  EXPECT_EQ(r.already_held, 1) << "m v2 is held (the registry keeps its own bytes)";
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("n v1: DATA_LOSS: SHA-256 mismatch")));
  EXPECT_THAT(Held("m"), ElementsAre(3, 2));
  EXPECT_THAT(Held("n"), IsEmpty());
}

TEST_F(VersionSyncTest, AnUnreachableSourceIsAnErrorNamingItAndChangesNothing) {
  source_.Add(FakeCheckpoint("m", 1, "w1"));
  source_.set_list_error(absl::UnavailableError("connection refused"));
  EXPECT_THAT(Sync().status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("fake trainer"), HasSubstr("connection refused"))));
  EXPECT_THAT(Held("m"), IsEmpty());
  absl::MutexLock lock(&passes_mu_);
  EXPECT_THAT(passes_, ElementsAre(HasSubstr("UNAVAILABLE")));
}

TEST_F(VersionSyncTest, BackgroundPassesCatchUpUntilStopped) {
  source_.Add(FakeCheckpoint("m", 1, "w1"));
  sync_->Start();
  source_.WaitForLists(2);  // The first pass has ended.
  sync_->Stop();
  EXPECT_THAT(Held("m"), ElementsAre(1));
}

TEST(VersionSyncCreateTest, BadOptionsAreInvalidArguments) {
  VersionSyncOptions o;
  EXPECT_THAT(VersionSync::Create(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs")));
}

}  // namespace
}  // namespace latentsearch::encoder

#include "services/trainer/distributed/follower.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "services/trainer/distributed/rendezvous.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer::distributed {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(100);

// What rank 0 asked for next.
struct Next {
  enum Kind { kJob, kShutdown, kRegroup, kExit } kind = kExit;
  std::string job_id;
  v1::TrainingConfig config;
};

// Waits for announcement `n` of generation `g`, rank 0's shutdown, or a new
// generation (rank 0 re-forms the group). UNAVAILABLE when the store fails.
absl::StatusOr<Next> AwaitNext(Rendezvous& rdv, int64_t g, int64_t n,
                               const std::function<bool()>& keep_running) {
  const std::string key = Rendezvous::Key(g, absl::StrCat("job/", n));
  Next next;
  try {
    while (keep_running()) {
      c10d::Store& store = rdv.store();
      if (store.check({"shutdown"})) {
        next.kind = Next::kShutdown;
        return next;
      }
      if (store.check({key})) {
        const std::vector<uint8_t> v = store.get(key);
        const std::string text(v.begin(), v.end());
        const size_t nl = text.find('\n');
        next.kind = Next::kJob;
        next.job_id = text.substr(0, nl);
        if (nl == std::string::npos || !next.config.ParseFromString(text.substr(nl + 1))) {
          return absl::DataLossError(absl::StrCat("announcement ", key, " does not parse"));
        }
        return next;
      }
      if (store.add("gen", 0) != g) {
        next.kind = Next::kRegroup;
        return next;
      }
      absl::SleepFor(kPoll);
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank 0 is unreachable: ", e.what()));
  }
  return next;
}

// Runs one announced job as this rank. A job this rank cannot prepare is
// refused through the group (rank 0 fails it naming this rank).
void RunJob(const Next& job, GlooCollective& group, const TrainerOptions& options) {
  const int rank = group.rank();
  absl::StatusOr<PreparedJob> prepared = PrepareJob(job.config, options, group.world_size(), rank);
  if (!prepared.ok()) {
    LOG(ERROR) << "rank " << rank << ": cannot run " << job.job_id << ": " << prepared.status();
    (void)group.AllGatherStrings(
        absl::StrCat("cannot prepare the job: ", prepared.status().message()));
    return;
  }
  LOG(INFO) << "rank " << rank << ": running " << job.job_id << " (" << prepared->plan.total_steps
            << " steps)";
  TrainingCallbacks cb;
  cb.collective = &group;
  cb.on_step = [&](const StepInfo& s) {
    if (s.step % 50 == 0 || s.last_of_epoch) {
      LOG(INFO) << "rank " << rank << ": " << job.job_id << " step " << s.step << "/"
                << s.total_steps << " loss " << s.loss << ", " << s.images_per_second
                << " img/s (group)";
    }
  };
  absl::StatusOr<TrainingResult> r =
      RunTraining(prepared->config.train, prepared->dataset, cb, /*resume=*/"");
  if (r.ok()) {
    LOG(INFO) << "rank " << rank << ": " << job.job_id << " ended after " << r->steps << " steps";
  } else {
    LOG(WARNING) << "rank " << rank << ": " << job.job_id << " failed: " << r.status();
  }
}

}  // namespace

absl::Status RunFollower(const GroupConfig& config, const TrainerOptions& options,
                         const std::function<bool()>& keep_running) {
  absl::StatusOr<std::unique_ptr<Rendezvous>> connected = Rendezvous::Connect(config);
  if (!connected.ok()) return connected.status();
  Rendezvous& rdv = **connected;
  while (keep_running()) {
    absl::StatusOr<int64_t> g = rdv.JoinableGeneration(keep_running);
    if (absl::IsCancelled(g.status())) return absl::OkStatus();
    if (!g.ok()) return g.status();
    absl::StatusOr<std::unique_ptr<GlooCollective>> group = rdv.Form(*g);
    if (!group.ok()) return group.status();
    for (int64_t n = 1;; ++n) {
      absl::StatusOr<Next> next = AwaitNext(rdv, *g, n, keep_running);
      if (!next.ok()) return next.status();
      if (next->kind == Next::kShutdown) {
        LOG(INFO) << "rank " << config.rank << ": rank 0 shut the group down";
        return absl::OkStatus();
      }
      if (next->kind == Next::kExit) return absl::OkStatus();
      if (next->kind == Next::kRegroup) break;
      RunJob(*next, **group, options);
      if ((*group)->broken()) break;
    }
    LOG(INFO) << "rank " << config.rank << ": leaving group generation " << *g;
  }
  return absl::OkStatus();
}

}  // namespace latentsearch::trainer::distributed

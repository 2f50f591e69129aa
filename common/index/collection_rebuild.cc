// Collection's background HNSW builder (see collection.h, "Serving
// model"): when enough slots changed, a copy of the live vectors is built
// into new graphs aside and swapped in; a failed build is logged and retried
// after a doubling back-off (CollectionOptions::rebuild_retry_*), while
// searches answer exactly.
// Thread-safety: runs on the collection's builder thread; shares state with
// searches and writers under mu_ (see collection.h).
#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "common/index/collection.h"

namespace latentsearch::index {

void Collection::MaybeScheduleRebuild() {
  if (!config_.hnsw) return;
  size_t built = 0;
  for (const auto& g : graphs_) {
    if (g != nullptr) built = std::max<size_t>(built, g->built_n);
  }
  size_t changes = (metas_.size() - built) + killed_since_build_;
  if (changes >= RebuildThreshold(built) || (built == 0 && !metas_.empty())) {
    rebuild_requested_ = true;
    cv_.notify_all();
  }
}

size_t Collection::RebuildThreshold(size_t built) const {
  return std::max<size_t>(
      options_.rebuild_min_changes,
      static_cast<size_t>(options_.rebuild_fraction * static_cast<double>(built)));
}

Collection::BuilderWork Collection::WaitAndCopy(BuildInput* in) {
  std::unique_lock<std::shared_mutex> l(mu_);
  cv_.wait(l, [this] { return stopping_ || rebuild_requested_ || save_requested_; });
  if (stopping_) return BuilderWork::kStop;
  if (!rebuild_requested_) {
    save_requested_ = false;
    saving_ = true;
    return BuilderWork::kSave;
  }
  rebuild_requested_ = false;
  building_ = true;
  in->raw = raw_;
  in->normalized = normalized_;
  in->n = static_cast<uint32_t>(metas_.size());
  in->killed_at_copy = killed_since_build_;
  in->seq = applied_seq_;
  in->slots.reserve(live_count_);
  for (uint32_t s = 0; s < in->n; ++s) {
    if (live_.Test(s)) in->slots.push_back(s);
  }
  return BuilderWork::kBuild;
}

std::vector<std::shared_ptr<const Collection::Graph>> Collection::BuildGraphs(const BuildInput& in,
                                                                              bool* failed) {
  std::vector<std::shared_ptr<const Graph>> built(kNumMetrics);
  for (Metric m : config_.metrics) {
    auto start = std::chrono::steady_clock::now();
    const float* base = m == Metric::kCosine ? in.normalized.data() : in.raw.data();
    absl::Status pre = options_.before_build ? options_.before_build(m) : absl::OkStatus();
    absl::StatusOr<std::unique_ptr<HnswIndex>> index =
        pre.ok() ? HnswIndex::Build(m, config_.dim, base, in.slots.data(), in.slots.size(),
                                    config_.hnsw_params, options_.num_threads)
                 : absl::StatusOr<std::unique_ptr<HnswIndex>>(pre);
    if (!index.ok()) {  // Searches keep falling back to exact.
      *failed = true;
      LOG(WARNING) << "collection '" << config_.name << "': HNSW build (" << MetricName(m) << ", "
                   << in.slots.size() << " items) failed, searches answer exactly until a "
                   << "retry succeeds: " << index.status();
      continue;
    }
    auto g = std::make_shared<Graph>();
    g->index = std::move(*index);
    g->built_n = in.n;
    g->covered_seq = in.seq;
    g->build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    g->built_at_us = NowMicros();
    built[MetricIndex(m)] = std::move(g);
    std::shared_lock<std::shared_mutex> l(mu_);
    if (stopping_) break;
  }
  return built;
}

void Collection::Publish(std::vector<std::shared_ptr<const Graph>> built, uint64_t killed_at_copy,
                         bool failed, std::unique_lock<std::shared_mutex>& l) {
  for (size_t i = 0; i < kNumMetrics; ++i) {
    if (built[i] == nullptr) continue;
    graphs_[i] = std::move(built[i]);
    ++graphs_built_;
  }
  killed_since_build_ -= std::min(killed_since_build_, killed_at_copy);
  build_failures_ = failed ? build_failures_ + 1 : 0;
  MaybeScheduleRebuild();
  if (!failed || stopping_) return;
  // Back off before retrying: a build that failed (memory) would fail
  // again at once, copying every vector each time.
  absl::Duration delay = options_.rebuild_retry_initial;
  for (int i = 1; i < build_failures_ && delay < options_.rebuild_retry_max; ++i) delay *= 2;
  delay = std::min(delay, options_.rebuild_retry_max);
  if (delay <= absl::ZeroDuration()) return;
  LOG(WARNING) << "collection '" << config_.name << "': retrying the HNSW build in " << delay
               << " (" << build_failures_ << " failed in a row)";
  backing_off_ = true;
  building_ = false;
  cv_.notify_all();
  const auto until = absl::ToChronoTime(absl::Now() + delay);
  cv_.wait_until(l, until, [this] { return stopping_; });
  backing_off_ = false;
}

void Collection::BuilderLoop() {
  while (true) {
    BuildInput in;
    const BuilderWork work = WaitAndCopy(&in);
    if (work == BuilderWork::kStop) return;
    if (work == BuilderWork::kBuild) {
      bool failed = false;
      std::vector<std::shared_ptr<const Graph>> built = BuildGraphs(in, &failed);
      const uint64_t killed_at_copy = in.killed_at_copy;
      in = BuildInput();  // the copy goes before the save
      std::unique_lock<std::shared_mutex> l(mu_);
      const bool any = std::any_of(built.begin(), built.end(), [](const auto& g) { return g; });
      Publish(std::move(built), killed_at_copy, failed, l);
      building_ = false;
      // Save what was built (the destructor saves at close).
      saving_ = any && !stopping_;
      cv_.notify_all();
      if (!saving_) continue;
    }
    SaveOnBuilder();
  }
}

void Collection::SaveOnBuilder() {
  if (absl::Status s = SaveGraphs(); !s.ok()) {
    LOG(WARNING) << "collection '" << config_.name
                 << "': HNSW graphs not saved (they are rebuilt or extended at the next start "
                 << "instead of loaded): " << s;
  }
  std::unique_lock<std::shared_mutex> l(mu_);
  saving_ = false;
  cv_.notify_all();
}

void Collection::WaitForIndexes() const {
  std::unique_lock<std::shared_mutex> l(mu_);
  cv_.wait(l, [this] {
    return stopping_ || backing_off_ ||
           (!rebuild_requested_ && !building_ && !save_requested_ && !saving_);
  });
}

}  // namespace latentsearch::index

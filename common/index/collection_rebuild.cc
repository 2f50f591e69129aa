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
  size_t threshold =
      std::max<size_t>(options_.rebuild_min_changes,
                       static_cast<size_t>(options_.rebuild_fraction * static_cast<double>(built)));
  if (changes >= threshold || (built == 0 && !metas_.empty())) {
    rebuild_requested_ = true;
    cv_.notify_all();
  }
}

bool Collection::WaitAndCopy(BuildInput* in) {
  std::unique_lock<std::shared_mutex> l(mu_);
  cv_.wait(l, [this] { return stopping_ || rebuild_requested_; });
  if (stopping_) return false;
  rebuild_requested_ = false;
  building_ = true;
  in->raw = raw_;
  in->normalized = normalized_;
  in->n = static_cast<uint32_t>(metas_.size());
  in->killed_at_copy = killed_since_build_;
  in->slots.reserve(live_count_);
  for (uint32_t s = 0; s < in->n; ++s) {
    if (live_.Test(s)) in->slots.push_back(s);
  }
  return true;
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
    if (built[i] != nullptr) graphs_[i] = std::move(built[i]);
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
    if (!WaitAndCopy(&in)) return;
    bool failed = false;
    std::vector<std::shared_ptr<const Graph>> built = BuildGraphs(in, &failed);
    std::unique_lock<std::shared_mutex> l(mu_);
    Publish(std::move(built), in.killed_at_copy, failed, l);
    building_ = false;
    cv_.notify_all();
    if (stopping_) return;
  }
}

void Collection::WaitForIndexes() const {
  std::unique_lock<std::shared_mutex> l(mu_);
  cv_.wait(l, [this] { return stopping_ || backing_off_ || (!rebuild_requested_ && !building_); });
}

}  // namespace latentsearch::index

// Collection's background HNSW builder (see collection.h, "Serving
// model"): slots added since the serving graphs were built are inserted into
// them (HnswIndex::AddOver, searches going on) once there are
// rebuild_min_changes of them; when enough slots were killed, new graphs are
// built aside over the live slots and swapped in. A failed build is logged
// and retried after a doubling back-off (CollectionOptions::rebuild_retry_*),
// while searches answer exactly.
// Thread-safety: runs on the collection's builder thread; shares state with
// searches and writers under mu_ (see collection.h).
#include <malloc.h>

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
namespace {

// Hands freed heap memory back to the system. glibc keeps what is freed in
// its arenas (the ingest's request buffers on the gRPC threads, a build's
// temporaries on this one) and that stays resident; the builder trims
// after each piece of work, when a large batch of such memory was freed.
void ReleaseFreeMemory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

}  // namespace

void Collection::MaybeScheduleRebuild() {
  if (!config_.hnsw) return;
  size_t built = 0;
  size_t least = metas_.size();  // the lowest built_n of the serving graphs
  bool missing = false;
  for (Metric m : config_.metrics) {
    const auto& g = graphs_[MetricIndex(m)];
    if (g == nullptr) {
      missing = true;
      continue;
    }
    built = std::max<size_t>(built, g->built_n);
    least = std::min<size_t>(least, g->built_n);
  }
  // Kills leave dead rows in the graphs (filtered out of answers): a
  // rebuild once they are a fraction of the graph. Additions are inserted
  // into the serving graphs, in batches, so their cost does not grow with
  // the collection (a rebuild per 10 % would cost a whole build per 10 %).
  if ((built == 0 && !metas_.empty()) || killed_since_build_ >= RebuildThreshold(built)) {
    rebuild_requested_ = true;
    cv_.notify_all();
  } else if (!missing && metas_.size() - least >= options_.rebuild_min_changes) {
    extend_requested_ = true;
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
  cv_.wait(l, [this] {
    return stopping_ || rebuild_requested_ || extend_requested_ || save_requested_;
  });
  if (stopping_) return BuilderWork::kStop;
  if (!rebuild_requested_ && !extend_requested_) {
    save_requested_ = false;
    saving_ = true;
    return BuilderWork::kSave;
  }
  // A rebuild covers what an insertion would.
  const bool rebuild = rebuild_requested_;
  rebuild_requested_ = false;
  extend_requested_ = false;
  building_ = true;
  in->n = static_cast<uint32_t>(metas_.size());
  in->rows = Rows();
  in->seq = applied_seq_;
  if (!rebuild) {
    in->graphs = graphs_;
    return BuilderWork::kExtend;
  }
  in->killed_at_copy = killed_since_build_;
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
    absl::Status pre = options_.before_build ? options_.before_build(m) : absl::OkStatus();
    absl::StatusOr<std::unique_ptr<HnswIndex>> index =
        pre.ok() ? HnswIndex::BuildOver(m, config_.dim, in.rows, in.slots.data(), in.slots.size(),
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

std::vector<std::shared_ptr<const Collection::Graph>> Collection::ExtendGraphs(
    const BuildInput& in) {
  std::vector<std::shared_ptr<const Graph>> out(kNumMetrics);
  for (Metric m : config_.metrics) {
    const std::shared_ptr<const Graph>& g = in.graphs[MetricIndex(m)];
    if (g == nullptr || g->index == nullptr || g->built_n >= in.n) continue;
    std::vector<uint32_t> slots;
    {
      // Liveness is read under the lock; a slot killed after this is
      // filtered out of answers like any dead row.
      std::shared_lock<std::shared_mutex> l(mu_);
      if (stopping_) break;
      for (uint32_t s = g->built_n; s < in.n; ++s) {
        if (live_.Test(s)) slots.push_back(s);
      }
    }
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = g->index->AddOver(in.rows, slots.data(), slots.size(),
                                           config_.hnsw_params.seed, options_.num_threads);
        !s.ok()) {
      // The graph may hold some of the rows: replace it.
      LOG(WARNING) << "collection '" << config_.name << "': inserting " << slots.size()
                   << " items into the " << MetricName(m)
                   << " HNSW graph failed; rebuilding it: " << s;
      std::unique_lock<std::shared_mutex> l(mu_);
      rebuild_requested_ = true;
      continue;
    }
    auto next = std::make_shared<Graph>(*g);
    next->built_n = in.n;
    next->covered_seq = in.seq;
    next->build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    next->built_at_us = NowMicros();
    out[MetricIndex(m)] = std::move(next);
  }
  return out;
}

bool Collection::WorthSaving(const std::vector<std::shared_ptr<const Graph>>& extended) {
  std::lock_guard<std::mutex> sl(save_mu_);
  for (size_t i = 0; i < kNumMetrics; ++i) {
    if (extended[i] == nullptr) continue;
    const uint64_t saved = saved_[i].valid ? saved_[i].entry.built_n : 0;
    if (extended[i]->built_n - std::min<uint64_t>(saved, extended[i]->built_n) >=
        RebuildThreshold(saved)) {
      return true;
    }
  }
  return false;
}

void Collection::BuilderLoop() {
  for (bool worked = false;; worked = true) {
    if (worked) ReleaseFreeMemory();
    BuildInput in;
    const BuilderWork work = WaitAndCopy(&in);
    if (work == BuilderWork::kStop) return;
    if (work == BuilderWork::kExtend) {
      std::vector<std::shared_ptr<const Graph>> extended = ExtendGraphs(in);
      in = BuildInput();
      // Saved when the rows inserted since the last save are a rebuild's
      // worth (as often as builds were saved before), not after every
      // batch: a crash costs re-inserting that many at the next open.
      const bool save = WorthSaving(extended);
      std::unique_lock<std::shared_mutex> l(mu_);
      for (size_t i = 0; i < kNumMetrics; ++i) {
        // A rebuild is only published by this thread: the graph extended is
        // still the one serving.
        if (extended[i] != nullptr) graphs_[i] = std::move(extended[i]);
      }
      building_ = false;
      MaybeScheduleRebuild();
      saving_ = save && !stopping_;
      cv_.notify_all();
      if (!saving_) continue;
      l.unlock();
      SaveOnBuilder();
      continue;
    }
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
           (!rebuild_requested_ && !extend_requested_ && !building_ && !save_requested_ &&
            !saving_);
  });
}

}  // namespace latentsearch::index

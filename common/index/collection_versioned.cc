// Collection's versioned writes (see collection.h, "Versions"): planning
// which writes of a batch win under last-writer-wins (versioning.h),
// logging and applying them, the replica summary, and ordered scans over
// items and tombstones.
// Thread-safety: Collection's public methods are thread-safe; the helpers
// here run under the locks their declarations name (collection.h).
#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/base/status_macros.h"
#include "common/index/collection.h"

namespace latentsearch::index {
namespace {

WriteKey UpsertKey(const VersionedWriteBatch& b, uint32_t i, size_t dim) {
  WriteKey k;
  k.version = b.upsert_versions[i];
  k.vector = b.upserts.vectors.data() + size_t{i} * dim;
  k.label = b.upserts.metas[i].label;
  k.uri = b.upserts.metas[i].uri;
  return k;
}

WriteKey DeleteKey(const VersionedWriteBatch& b, uint32_t i) {
  WriteKey k;
  k.version = b.delete_versions[i];
  k.deleted = true;
  return k;
}

// One write of a batch: a delete (index into delete_ids) or an upsert.
struct BatchWrite {
  bool deleted = false;
  uint32_t index = 0;
};

// The writes of `b` that `plan` lets win, for the log: replaying them on
// the same state applies exactly them.
VersionedWriteBatch Winners(const VersionedWriteBatch& b, const std::vector<uint32_t>& upserts,
                            const std::vector<uint32_t>& deletes, size_t dim) {
  VersionedWriteBatch w;
  w.upserts.metas.reserve(upserts.size());
  w.upserts.vectors.reserve(upserts.size() * dim);
  for (uint32_t i : upserts) {
    w.upserts.metas.push_back(b.upserts.metas[i]);
    const float* v = b.upserts.vectors.data() + size_t{i} * dim;
    w.upserts.vectors.insert(w.upserts.vectors.end(), v, v + dim);
    w.upsert_versions.push_back(b.upsert_versions[i]);
  }
  for (uint32_t i : deletes) {
    w.delete_ids.push_back(b.delete_ids[i]);
    w.delete_versions.push_back(b.delete_versions[i]);
  }
  return w;
}

}  // namespace

std::optional<WriteKey> Collection::HeldWrite(absl::string_view id) const {
  auto it = slot_of_.find(id);
  if (it != slot_of_.end()) {
    const uint32_t s = it->second;
    WriteKey k;
    k.version = versions_[s];
    k.vector = vectors_.row(s);
    k.label = metas_[s].label;
    k.uri = metas_[s].uri;
    return k;
  }
  auto t = tombstones_.find(id);
  if (t == tombstones_.end()) return std::nullopt;
  WriteKey k;
  k.version = t->second;
  k.deleted = true;
  return k;
}

Collection::VersionedPlan Collection::PlanVersioned(const VersionedWriteBatch& b) const {
  const size_t dim = config_.dim;
  const uint32_t n = static_cast<uint32_t>(b.upserts.metas.size());
  const uint32_t d = static_cast<uint32_t>(b.delete_ids.size());
  VersionedPlan plan;
  auto key_of = [&](BatchWrite w) {
    return w.deleted ? DeleteKey(b, w.index) : UpsertKey(b, w.index, dim);
  };
  // 1. The greatest write per id within the batch; each other one loses.
  absl::flat_hash_map<absl::string_view, BatchWrite> best;
  best.reserve(n + d);
  auto offer = [&](absl::string_view id, BatchWrite w) {
    auto [it, inserted] = best.try_emplace(id, w);
    if (inserted) return;
    ++plan.counts.superseded;
    if (CompareWrites(key_of(w), key_of(it->second), dim) > 0) it->second = w;
  };
  for (uint32_t i = 0; i < n; ++i) offer(b.upserts.metas[i].id, {false, i});
  for (uint32_t i = 0; i < d; ++i) offer(b.delete_ids[i], {true, i});
  // 2. Each id's winner against what the collection holds, in batch order.
  auto wins = [&](absl::string_view id, BatchWrite w, bool* was_live) {
    const BatchWrite& top = best.find(id)->second;
    if (top.deleted != w.deleted || top.index != w.index) return false;  // Counted above.
    std::optional<WriteKey> held = HeldWrite(id);
    *was_live = held.has_value() && !held->deleted;
    if (held.has_value() && CompareWrites(key_of(w), *held, dim) <= 0) {
      ++plan.counts.superseded;
      return false;
    }
    return true;
  };
  bool was_live = false;
  for (uint32_t i = 0; i < n; ++i) {
    if (!wins(b.upserts.metas[i].id, {false, i}, &was_live)) continue;
    plan.upserts.push_back(i);
    ++(was_live ? plan.counts.replaced : plan.counts.inserted);
  }
  for (uint32_t i = 0; i < d; ++i) {
    if (!wins(b.delete_ids[i], {true, i}, &was_live)) continue;
    plan.deletes.push_back(i);
    ++(was_live ? plan.counts.deleted : plan.counts.not_found);
  }
  return plan;
}

void Collection::ApplyPlan(const VersionedWriteBatch& b, const VersionedPlan& plan) {
  const size_t dim = config_.dim;
  for (uint32_t i : plan.upserts) {
    PutItem(b.upserts.metas[i], b.upserts.vectors.data() + size_t{i} * dim, b.upsert_versions[i]);
    max_version_ = std::max(max_version_, b.upsert_versions[i]);
  }
  for (uint32_t i : plan.deletes) {
    KillItem(b.delete_ids[i]);
    SetTombstone(b.delete_ids[i], b.delete_versions[i]);
    max_version_ = std::max(max_version_, b.delete_versions[i]);
  }
  if (plan.upserts.empty() && plan.deletes.empty()) return;
  updated_at_us_ = NowMicros();
  MaybeScheduleRebuild();
}

absl::StatusOr<ApplyCounts> Collection::ApplyVersioned(const VersionedWriteBatch& batch) {
  LS_RETURN_IF_ERROR(CheckVersionedBatch(batch, config_.dim));
  if (batch.upserts.metas.empty() && batch.delete_ids.empty()) return ApplyCounts{};
  std::lock_guard<std::mutex> wl(write_mu_);
  if (wal_ == nullptr) return write_error_;
  VersionedPlan plan;
  {
    // write_mu_ keeps other writers out: the state planned on is the state
    // the plan is applied to.
    std::shared_lock<std::shared_mutex> l(mu_);
    plan = PlanVersioned(batch);
  }
  // Nothing wins (e.g. a redelivery): nothing to log.
  if (plan.upserts.empty() && plan.deletes.empty()) return plan.counts;
  LS_RETURN_IF_ERROR(ReserveRows(plan.upserts.size()));
  WalRecord rec;
  rec.seq = last_seq_ + 1;
  rec.type = WalRecord::Type::kVersioned;
  rec.versioned = Winners(batch, plan.upserts, plan.deletes, config_.dim);
  LS_RETURN_IF_ERROR(wal_->Append(rec));
  last_seq_ = rec.seq;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    ApplyPlan(batch, plan);
    applied_seq_ = rec.seq;
  }
  MaybeAutoSnapshot();
  return plan.counts;
}

ReplicaSummary Collection::Summary() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  ReplicaSummary s;
  s.item_count = live_count_;
  s.tombstones = tombstones_.size();
  s.max_version = max_version_;
  s.digest = digest_;
  return s;
}

std::optional<uint64_t> Collection::VersionOf(const std::string& id) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::optional<WriteKey> held = HeldWrite(id);
  if (!held.has_value()) return std::nullopt;
  return held->version;
}

std::vector<VersionedEntry> Collection::Scan(const std::string& after_id, size_t limit,
                                             bool include_tombstones, bool include_vectors) const {
  std::vector<VersionedEntry> out;
  std::shared_lock<std::shared_mutex> l(mu_);
  const size_t dim = config_.dim;
  auto item = by_id_.upper_bound(absl::string_view(after_id));
  auto tomb = include_tombstones ? tombstones_.upper_bound(after_id) : tombstones_.end();
  while (out.size() < limit) {
    const bool have_item = item != by_id_.end();
    const bool have_tomb = tomb != tombstones_.end();
    if (!have_item && !have_tomb) break;
    VersionedEntry e;
    // Never equal: an id is live or a tombstone, not both.
    if (have_item && (!have_tomb || metas_[*item].id < tomb->first)) {
      const uint32_t s = *item++;
      e.meta = metas_[s];
      e.version = versions_[s];
      if (include_vectors) {
        const float* v = vectors_.row(s);
        e.vector.assign(v, v + dim);
      }
    } else {
      e.meta.id = tomb->first;
      e.version = tomb->second;
      e.deleted = true;
      ++tomb;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace latentsearch::index

// K-way merge of per-shard top-k lists (merge.h).
// Thread-safety: pure functions.
#include "common/cluster/merge.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <utility>

namespace latentsearch::cluster {
namespace {

// Merges `sizes.size()` sorted sources, calling emit(shard, index) for the
// first k elements in order. `at(shard, index)` reads an element.
template <typename At, typename Emit>
void KWayMerge(const std::vector<size_t>& sizes, size_t k, At at, Emit emit) {
  struct Cursor {
    size_t shard;
    size_t index;
  };
  // priority_queue pops its greatest element: "greater" = comes later.
  auto later = [&at](const Cursor& a, const Cursor& b) {
    const v1::Neighbor& na = at(a.shard, a.index);
    const v1::Neighbor& nb = at(b.shard, b.index);
    if (NeighborBefore(nb, na)) return true;
    if (NeighborBefore(na, nb)) return false;
    return a.shard > b.shard;
  };
  std::priority_queue<Cursor, std::vector<Cursor>, decltype(later)> heap(later);
  for (size_t s = 0; s < sizes.size(); ++s) {
    if (sizes[s] > 0) heap.push({s, 0});
  }
  for (size_t emitted = 0; emitted < k && !heap.empty(); ++emitted) {
    const Cursor top = heap.top();
    heap.pop();
    emit(top.shard, top.index);
    if (top.index + 1 < sizes[top.shard]) heap.push({top.shard, top.index + 1});
  }
}

}  // namespace

bool NeighborBefore(const v1::Neighbor& a, const v1::Neighbor& b) {
  const float da = a.distance();
  const float db = b.distance();
  const bool nan_a = std::isnan(da);
  const bool nan_b = std::isnan(db);
  if (nan_a != nan_b) return nan_b;  // Numbers before NaN.
  if (!nan_a && da != db) return da < db;
  // std::string compares through char_traits<char>::lt, which compares as
  // unsigned char: byte-wise.
  return a.id() < b.id();
}

std::vector<v1::Neighbor> MergeTopK(std::vector<std::vector<v1::Neighbor>>&& per_shard, size_t k) {
  std::vector<size_t> sizes;
  size_t total = 0;
  for (const auto& list : per_shard) {
    sizes.push_back(list.size());
    total += list.size();
  }
  std::vector<v1::Neighbor> out;
  out.reserve(std::min(k, total));
  KWayMerge(
      sizes, k, [&](size_t s, size_t i) -> const v1::Neighbor& { return per_shard[s][i]; },
      [&](size_t s, size_t i) { out.push_back(std::move(per_shard[s][i])); });
  return out;
}

void MergeTopKInto(const std::vector<google::protobuf::RepeatedPtrField<v1::Neighbor>*>& per_shard,
                   size_t k, google::protobuf::RepeatedPtrField<v1::Neighbor>* out) {
  std::vector<size_t> sizes;
  for (const auto* list : per_shard) sizes.push_back(list == nullptr ? 0 : list->size());
  KWayMerge(
      sizes, k, [&](size_t s, size_t i) -> const v1::Neighbor& { return per_shard[s]->Get(i); },
      [&](size_t s, size_t i) {
        // Same arena: a swap of internals; across arenas protobuf copies.
        *out->Add() = std::move(*per_shard[s]->Mutable(static_cast<int>(i)));
      });
}

}  // namespace latentsearch::cluster

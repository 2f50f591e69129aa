// HnswIndex over hnswlib 0.6.2 (the only translation unit that includes it).
//
// What we take from hnswlib: the graph layout, the construction routines
// (searchBaseLayer, mutuallyConnectNewElement, the neighbour heuristic) and
// the file format. What we replace, in a subclass:
//  * insertion (Insert): levels are drawn up front from the seed, serially,
//    so the level RNG is not raced by parallel inserts, and the entry point
//    is read under the `global` lock (hnswlib reads it unlocked);
//  * search (SearchLayer0 and friends): ef is a parameter, never the
//    index-global ef_ (setEf would race between concurrent searches), an
//    optional filter, and a work cap;
//  * load / save (LoadFrom / SaveTo): hnswlib's loadIndex trusts the file
//    (a truncated or corrupt file means out-of-bounds reads or a throw that
//    leaves the object half-built) and its saveIndex ignores write errors
//    and never fsyncs. We parse the same format from memory with every size
//    and link checked (hnsw_format.cc), and publish it atomically through a
//    base::FileOps (temp file, fsync, rename, directory fsync).
//
// Filtered search: rows outside the filter are still traversed (they keep the
// graph connected) but only allowed rows enter the result heap, so the
// search widens until it holds ef allowed rows. When the allowed rows are
// few (m² <= kExactScanFactor · ef · size, i.e. scanning them is cheaper
// than the widened walk) they are scanned exactly instead. A walk that runs
// past `size` distance computations, or ends with fewer than min(k, m)
// results, reports complete = false and the caller answers exactly.
#include "common/index/hnsw.h"

#include <hnswlib/hnswlib.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <queue>
#include <random>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/base/file_ops.h"
#include "common/base/huge_pages.h"
#include "common/base/little_endian.h"
#include "common/base/status_macros.h"
#include "common/index/bitset.h"
#include "common/index/hnsw_format.h"
#include "common/index/kernels.h"
#include "common/index/metric.h"

namespace latentsearch::index {
namespace {

using hnswlib::labeltype;
using hnswlib::linklistsizeint;
using hnswlib::tableint;
using internal::KernelTable;

// Exact scan of the allowed rows when m² <= kExactScanFactor · ef · size
// (see the file comment; measured in tests/bench/index).
constexpr double kExactScanFactor = 16.0;
constexpr tableint kNoId = hnsw_format::kNoId;
// Add's batches (HnswIndex::kAddBatchRows rows) go on several threads from
// this many rows per thread.
constexpr size_t kAddRowsPerThread = 32;
// Graph files are written in appends of about this many bytes.
constexpr size_t kWriteChunk = size_t{1} << 20;

static_assert(std::is_same_v<tableint, hnsw_format::Id>);
static_assert(std::is_same_v<linklistsizeint, hnsw_format::LinkCount>);
static_assert(std::is_same_v<labeltype, hnsw_format::Label>);

// A readers-writer lock that lets a waiting writer in before new readers
// (glibc's default, like std::shared_mutex, prefers readers: a steady
// stream of searches would starve AddOver forever). Readers must not
// acquire it recursively.
class WriterFirstLock {
 public:
  WriterFirstLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~WriterFirstLock() { pthread_rwlock_destroy(&lock_); }
  WriterFirstLock(const WriterFirstLock&) = delete;
  WriterFirstLock& operator=(const WriterFirstLock&) = delete;
  // The SharedMutex / Mutex requirements std::shared_lock and
  // std::unique_lock use.
  void lock() { pthread_rwlock_wrlock(&lock_); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

// --- Spaces ----------------------------------------------------------------
// hnswlib distance functions are plain function pointers
// float(const void*, const void*, const void*) whose last argument points at
// the dimension; one instantiation per kernel table.

template <const KernelTable* kTable>
float SpaceL1(const void* a, const void* b, const void* dim) {
  return kTable->l1(static_cast<const float*>(a), static_cast<const float*>(b),
                    *static_cast<const size_t*>(dim));
}
template <const KernelTable* kTable>
float SpaceL2(const void* a, const void* b, const void* dim) {
  return kTable->l2sq(static_cast<const float*>(a), static_cast<const float*>(b),
                      *static_cast<const size_t*>(dim));
}
// hnswlib's inner-product convention: 1 - dot (a distance; equals our cosine
// distance 1 + (-dot) bit for bit).
template <const KernelTable* kTable>
float SpaceIp(const void* a, const void* b, const void* dim) {
  return 1.0f - kTable->dot(static_cast<const float*>(a), static_cast<const float*>(b),
                            *static_cast<const size_t*>(dim));
}

// A graph built over rows (HnswIndex::BuildOver) holds one of these per
// element instead of the vector; a query is wrapped in one (scale 1: the
// caller normalises cosine queries).
struct RowRef {
  const float* v;
  float scale;    // kCosine: InverseNorm(v) (1 for a query); else unused
  uint32_t slot;  // the label, repeated (the file holds zeros here)
};
static_assert(sizeof(RowRef) == 16);

template <const KernelTable* kTable>
float RefSpaceL1(const void* a, const void* b, const void* dim) {
  return kTable->l1(static_cast<const RowRef*>(a)->v, static_cast<const RowRef*>(b)->v,
                    *static_cast<const size_t*>(dim));
}
template <const KernelTable* kTable>
float RefSpaceL2(const void* a, const void* b, const void* dim) {
  return kTable->l2sq(static_cast<const RowRef*>(a)->v, static_cast<const RowRef*>(b)->v,
                      *static_cast<const size_t*>(dim));
}
// 1 - dot · scale_a · scale_b: for a query (scale 1) against a row, bit for
// bit the cosine distance ExactSearch gives with row_scale.
template <const KernelTable* kTable>
float RefSpaceIp(const void* a, const void* b, const void* dim) {
  const RowRef* x = static_cast<const RowRef*>(a);
  const RowRef* y = static_cast<const RowRef*>(b);
  return 1.0f - kTable->dot(x->v, y->v, *static_cast<const size_t*>(dim)) * x->scale * y->scale;
}

template <const KernelTable* kTable>
hnswlib::DISTFUNC<float> RefSpaceFunction(Metric metric) {
  switch (metric) {
    case Metric::kL1:
      return &RefSpaceL1<kTable>;
    case Metric::kL2:
      return &RefSpaceL2<kTable>;
    case Metric::kCosine:
      return &RefSpaceIp<kTable>;
  }
  return &RefSpaceL2<kTable>;
}

template <const KernelTable* kTable>
hnswlib::DISTFUNC<float> SpaceFunction(Metric metric, bool by_ref) {
  if (by_ref) return RefSpaceFunction<kTable>(metric);
  switch (metric) {
    case Metric::kL1:
      return &SpaceL1<kTable>;
    case Metric::kL2:
      return &SpaceL2<kTable>;
    case Metric::kCosine:
      return &SpaceIp<kTable>;
  }
  return &SpaceL2<kTable>;
}

class Space final : public hnswlib::SpaceInterface<float> {
 public:
  Space(Metric metric, size_t dim, bool by_ref) : dim_(dim), by_ref_(by_ref) {
    switch (internal::Kernels().isa) {
      case internal::Isa::kAvx512:
        func_ = SpaceFunction<&internal::kAvx512Kernels>(metric, by_ref);
        break;
      case internal::Isa::kAvx2:
        func_ = SpaceFunction<&internal::kAvx2Kernels>(metric, by_ref);
        break;
      case internal::Isa::kScalar:
        func_ = SpaceFunction<&internal::kScalarKernels>(metric, by_ref);
        break;
    }
  }
  size_t get_data_size() override { return by_ref_ ? sizeof(RowRef) : dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return func_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  bool by_ref_;
  hnswlib::DISTFUNC<float> func_ = nullptr;
};

// --- Graph -----------------------------------------------------------------

using DistId = std::pair<float, tableint>;
struct FartherFirst {
  bool operator()(const DistId& a, const DistId& b) const { return a.first < b.first; }
};
struct CloserFirst {
  bool operator()(const DistId& a, const DistId& b) const { return a.first > b.first; }
};
// Max-heap by distance (the current results) / min-heap (the frontier).
using ResultHeap = std::priority_queue<DistId, std::vector<DistId>, FartherFirst>;
using FrontierHeap = std::priority_queue<DistId, std::vector<DistId>, CloserFirst>;

class Graph final : public hnswlib::HierarchicalNSW<float> {
 public:
  using Base = hnswlib::HierarchicalNSW<float>;

  Graph(hnswlib::SpaceInterface<float>* space, size_t max_elements, size_t m,
        size_t ef_construction, size_t seed)
      : Base(space, max_elements, m, ef_construction, seed) {
    metric_distance_computations = 0;
    metric_hops = 0;
    AdviseHugePages();  // before the build touches the level-0 array
  }

  // An empty shell for LoadFrom. hnswlib's HierarchicalNSW(space) leaves
  // every member uninitialised; the destructor must see a consistent state.
  explicit Graph(hnswlib::SpaceInterface<float>* space) : Base(space) {
    max_elements_ = 0;
    cur_element_count = 0;
    num_deleted_ = 0;
    data_level0_memory_ = nullptr;
    linkLists_ = nullptr;
    visited_list_pool_ = nullptr;
    enterpoint_node_ = kNoId;
    maxlevel_ = -1;
    ef_ = 10;
    metric_distance_computations = 0;
    metric_hops = 0;
    data_size_ = space->get_data_size();
    fstdistfunc_ = space->get_dist_func();
    dist_func_param_ = space->get_dist_func_param();
  }

  // Whether elements hold RowRefs (a graph over rows): the distance to an
  // element then reads a second place, the row, which the searches
  // prefetch too.
  bool by_ref = false;

  // Asks for huge pages over the level-0 array (every element a search
  // visits is a random access into it; base/huge_pages.h).
  void AdviseHugePages() const {
    base::AdviseHugePages(data_level0_memory_, max_elements_ * size_data_per_element_);
  }

  // Prefetches element `id`'s data (the vector, or its RowRef).
  void PrefetchElement(tableint id) const {
#ifdef USE_SSE
    _mm_prefetch(getDataByInternalId(id), _MM_HINT_T0);
#endif
  }
  // For a graph over rows, prefetches the start of the row element `id`
  // references (its RowRef should be in cache: PrefetchElement earlier).
  void PrefetchRow(tableint id) const {
#ifdef USE_SSE
    if (!by_ref) return;
    const char* v =
        reinterpret_cast<const char*>(reinterpret_cast<const RowRef*>(getDataByInternalId(id))->v);
    _mm_prefetch(v, _MM_HINT_T0);
    _mm_prefetch(v + 64, _MM_HINT_T0);
#endif
  }

  // Neighbours are gathered at most this many at a time (maxM0 is 2·M ≤ 256
  // for graphs we build; a loaded file may have more, taken in chunks).
  static constexpr size_t kGather = 256;

  // The not yet visited ids among datal[0..size) (at most kGather), marked
  // visited, into out[], with their element data prefetched (all at once,
  // so the misses overlap), and, over rows, the first rows they reference.
  size_t GatherUnvisited(const tableint* datal, size_t size, hnswlib::vl_type* visited,
                         hnswlib::vl_type tag, tableint* out) const {
#ifdef USE_SSE
    for (size_t j = 0; j < size; ++j) {
      _mm_prefetch(reinterpret_cast<const char*>(visited + datal[j]), _MM_HINT_T0);
    }
#endif
    size_t m = 0;
    for (size_t j = 0; j < size; ++j) {
      const tableint c = datal[j];
      if (visited[c] == tag) continue;
      visited[c] = tag;
      out[m++] = c;
      PrefetchElement(c);
    }
    if (m > 0) PrefetchRow(out[0]);
    return m;
  }

  using Candidates = std::priority_queue<std::pair<float, tableint>,
                                         std::vector<std::pair<float, tableint>>, CompareByFirst>;

  // hnswlib's searchBaseLayer (the construction search: ef_construction_,
  // per-element locks) with PrefetchRow one neighbour ahead, so that a
  // graph over rows is not slowed by the second memory access.
  Candidates SearchForInsert(tableint ep_id, const void* data_point, int layer) {
    hnswlib::VisitedList* vl = visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* visited = vl->mass;
    const hnswlib::vl_type tag = vl->curV;
    Candidates top_candidates;
    Candidates candidate_set;  // by negated distance
    float lower_bound = fstdistfunc_(data_point, getDataByInternalId(ep_id), dist_func_param_);
    top_candidates.emplace(lower_bound, ep_id);
    candidate_set.emplace(-lower_bound, ep_id);
    visited[ep_id] = tag;
    while (!candidate_set.empty()) {
      const std::pair<float, tableint> cur = candidate_set.top();
      if (-cur.first > lower_bound && top_candidates.size() == ef_construction_) break;
      candidate_set.pop();
      std::unique_lock<std::mutex> lock(link_list_locks_[cur.second]);
      linklistsizeint* data =
          layer == 0 ? get_linklist0(cur.second) : get_linklist(cur.second, layer);
      const size_t size = getListCount(data);
      const tableint* datal = reinterpret_cast<const tableint*>(data + 1);
      tableint cands[kGather];
      for (size_t from = 0; from < size; from += kGather) {
        const size_t m =
            GatherUnvisited(datal + from, std::min(kGather, size - from), visited, tag, cands);
        for (size_t i = 0; i < m; i++) {
          if (i + 1 < m) PrefetchRow(cands[i + 1]);
          const tableint cand = cands[i];
          const float d = fstdistfunc_(data_point, getDataByInternalId(cand), dist_func_param_);
          if (top_candidates.size() < ef_construction_ || lower_bound > d) {
            candidate_set.emplace(-d, cand);
            top_candidates.emplace(d, cand);
            if (top_candidates.size() > ef_construction_) top_candidates.pop();
            lower_bound = top_candidates.top().first;
          }
        }
      }
    }
    visited_list_pool_->releaseVisitedList(vl);
    return top_candidates;
  }

  // hnswlib's addPoint for a new label at a given level, without its update
  // path, reading the entry point under `global`. Throws like hnswlib.
  void Insert(const void* data_point, labeltype label, int curlevel) {
    tableint cur_c = 0;
    {
      std::unique_lock<std::mutex> lock(cur_element_count_guard_);
      if (cur_element_count >= max_elements_) {
        throw std::runtime_error("The number of elements exceeds the specified limit");
      }
      cur_c = static_cast<tableint>(cur_element_count);
      cur_element_count++;
    }
    std::unique_lock<std::mutex> lock_el(link_list_locks_[cur_c]);
    element_levels_[cur_c] = curlevel;

    std::unique_lock<std::mutex> templock(global);
    const int maxlevelcopy = maxlevel_;
    tableint curr_obj = enterpoint_node_;
    if (curlevel <= maxlevelcopy) templock.unlock();

    std::memset(data_level0_memory_ + cur_c * size_data_per_element_ + offsetLevel0_, 0,
                size_data_per_element_);
    std::memcpy(getExternalLabeLp(cur_c), &label, sizeof(labeltype));
    std::memcpy(getDataByInternalId(cur_c), data_point, data_size_);
    if (curlevel > 0) {
      const size_t bytes = UpperLinksBytes(curlevel);
      linkLists_[cur_c] = static_cast<char*>(std::malloc(bytes));
      if (linkLists_[cur_c] == nullptr) throw std::bad_alloc();
      std::memset(linkLists_[cur_c], 0, bytes);
    }

    if (maxlevelcopy >= 0) {
      if (curlevel < maxlevelcopy) {
        float curdist = fstdistfunc_(data_point, getDataByInternalId(curr_obj), dist_func_param_);
        for (int level = maxlevelcopy; level > curlevel; level--) {
          bool changed = true;
          while (changed) {
            changed = false;
            std::unique_lock<std::mutex> lock(link_list_locks_[curr_obj]);
            linklistsizeint* data = get_linklist(curr_obj, level);
            const int size = getListCount(data);
            const tableint* datal = reinterpret_cast<const tableint*>(data + 1);
            for (int i = 0; i < size; i++) {
              const tableint cand = datal[i];
              const float d = fstdistfunc_(data_point, getDataByInternalId(cand), dist_func_param_);
              if (d < curdist) {
                curdist = d;
                curr_obj = cand;
                changed = true;
              }
            }
          }
        }
      }
      for (int level = std::min(curlevel, maxlevelcopy); level >= 0; level--) {
        auto top_candidates = SearchForInsert(curr_obj, data_point, level);
        curr_obj = mutuallyConnectNewElement(data_point, cur_c, top_candidates, level,
                                             /*isUpdate=*/false);
      }
    } else {
      // The first element (the caller inserts it before any other).
      enterpoint_node_ = 0;
      maxlevel_ = curlevel;
    }
    if (curlevel > maxlevelcopy) {
      enterpoint_node_ = cur_c;
      maxlevel_ = curlevel;
    }
  }

  // Upper-level link lists of an element on `level` levels, plus slack:
  // hnswlib's searchBaseLayer prefetches datal[size], one id past a full
  // list (its own allocation, "+ 1" byte, lets that read overflow).
  size_t UpperLinksBytes(int level) const {
    return size_links_per_element_ * static_cast<size_t>(level) + 2 * sizeof(tableint);
  }

  // Makes room for `capacity` rows (>= the count) and restores what
  // insertion needs (FreeBuildState dropped it). Throws like hnswlib.
  void PrepareInsert(size_t capacity) {
    if (capacity > max_elements_) {
      resizeIndex(capacity);
      AdviseHugePages();
    }
    std::vector<std::mutex>(max_elements_).swap(link_list_locks_);
  }

  // After the build: drops what only insertion needs (about 40 bytes per
  // row plus 2.6 MB of update locks). The graph is immutable from here on.
  void FreeBuildState() {
    std::vector<std::mutex>().swap(link_list_locks_);
    std::vector<std::mutex>().swap(link_list_update_locks_);
    std::unordered_map<labeltype, tableint>().swap(label_lookup_);
  }

  // Greedy descent through the upper levels; returns the level-0 entry.
  tableint Descend(const void* query, size_t* computations) const {
    tableint curr_obj = enterpoint_node_;
    float curdist = fstdistfunc_(query, getDataByInternalId(curr_obj), dist_func_param_);
    ++*computations;
    for (int level = maxlevel_; level > 0; level--) {
      bool changed = true;
      while (changed) {
        changed = false;
        const linklistsizeint* data = get_linklist(curr_obj, level);
        const int size = getListCount(const_cast<linklistsizeint*>(data));
        const tableint* datal = reinterpret_cast<const tableint*>(data + 1);
        *computations += static_cast<size_t>(size);
        for (int i = 0; i < size; i++) {
          const tableint cand = datal[i];
          const float d = fstdistfunc_(query, getDataByInternalId(cand), dist_func_param_);
          if (d < curdist) {
            curdist = d;
            curr_obj = cand;
            changed = true;
          }
        }
      }
    }
    return curr_obj;
  }

  // searchBaseLayerST with ef as a parameter and an optional filter on the
  // result heap (the frontier still takes every row). Stops early, setting
  // *capped, once `max_computations` distances have been computed.
  ResultHeap SearchLayer0(tableint ep, const void* query, size_t ef, const Bitset* allowed,
                          size_t max_computations, size_t* computations, bool* capped) const {
    hnswlib::VisitedList* vl = visited_list_pool_->getFreeVisitedList();
    hnswlib::vl_type* visited = vl->mass;
    const hnswlib::vl_type tag = vl->curV;

    auto ok = [&](tableint id) {
      if (allowed == nullptr) return true;
      const labeltype slot = getExternalLabel(id);
      return slot < allowed->size() && allowed->Test(slot);
    };

    ResultHeap top;
    FrontierHeap frontier;
    float lower_bound = std::numeric_limits<float>::infinity();
    const float d0 = fstdistfunc_(query, getDataByInternalId(ep), dist_func_param_);
    ++*computations;
    if (ok(ep)) {
      top.emplace(d0, ep);
      lower_bound = d0;
    }
    frontier.emplace(d0, ep);
    visited[ep] = tag;

    while (!frontier.empty()) {
      const DistId cur = frontier.top();
      if (cur.first > lower_bound && top.size() >= ef) break;
      frontier.pop();
      const linklistsizeint* data = get_linklist0(cur.second);
      const size_t size = getListCount(const_cast<linklistsizeint*>(data));
      const tableint* datal = reinterpret_cast<const tableint*>(data + 1);
      tableint cands[kGather];
      for (size_t from = 0; from < size; from += kGather) {
        const size_t m =
            GatherUnvisited(datal + from, std::min(kGather, size - from), visited, tag, cands);
        for (size_t i = 0; i < m; i++) {
          if (i + 1 < m) PrefetchRow(cands[i + 1]);
          const tableint cand = cands[i];
          const float d = fstdistfunc_(query, getDataByInternalId(cand), dist_func_param_);
          ++*computations;
          if (top.size() < ef || d < lower_bound) {
            frontier.emplace(d, cand);
            if (ok(cand)) {
              top.emplace(d, cand);
              if (top.size() > ef) top.pop();
              lower_bound = top.top().first;
            }
          }
        }
      }
      if (*computations > max_computations) {
        *capped = true;
        break;
      }
    }
    visited_list_pool_->releaseVisitedList(vl);
    return top;
  }

  // --- Persistence (hnswlib 0.6.2 format, hnsw_format.h) ------------------

  // Publishes the graph at `path` through `ops`: temp file, fsync, rename,
  // directory fsync (base::PublishFile), so a crash never leaves a renamed
  // but unflushed graph.
  absl::Status SaveTo(const std::string& path, base::FileOps& ops, bool by_ref) const {
    return base::PublishFile(
        ops, path, [this, by_ref](base::WritableFile& file) { return WriteTo(file, by_ref); });
  }

  // hnswlib's saveIndex byte for byte (max_elements = the element count,
  // which is what a reload needs), in buffered appends; a graph over rows
  // writes zeros for its references (addresses mean nothing to a reload).
  absl::Status WriteTo(base::WritableFile& file, bool by_ref) const {
    hnsw_format::Header h;
    h.offset_level0 = offsetLevel0_;
    h.max_elements = cur_element_count;
    h.count = cur_element_count;
    h.size_per_element = size_data_per_element_;
    h.label_offset = label_offset_;
    h.offset_data = offsetData_;
    h.max_level = maxlevel_;
    h.entry = enterpoint_node_;
    h.max_m = maxM_;
    h.max_m0 = maxM0_;
    h.m = M_;
    h.mult = mult_;
    h.ef_construction = ef_construction_;
    std::string buf;
    hnsw_format::AppendHeader(h, &buf);
    LS_RETURN_IF_ERROR(file.Append(buf));
    buf.clear();
    if (!by_ref) {
      LS_RETURN_IF_ERROR(file.Append(
          absl::string_view(data_level0_memory_, cur_element_count * size_data_per_element_)));
    } else {
      for (size_t i = 0; i < cur_element_count; i++) {
        const size_t at = buf.size();
        buf.append(data_level0_memory_ + i * size_data_per_element_, size_data_per_element_);
        std::memset(buf.data() + at + offsetData_, 0, sizeof(RowRef));
        if (buf.size() >= kWriteChunk) {
          LS_RETURN_IF_ERROR(file.Append(buf));
          buf.clear();
        }
      }
      LS_RETURN_IF_ERROR(file.Append(buf));
      buf.clear();
    }
    for (size_t i = 0; i < cur_element_count; i++) {
      const uint32_t bytes =
          element_levels_[i] > 0
              ? static_cast<uint32_t>(size_links_per_element_ * element_levels_[i])
              : 0;
      base::AppendLittleEndian(bytes, &buf);
      if (bytes != 0) buf.append(linkLists_[i], bytes);
      if (buf.size() >= kWriteChunk) {
        LS_RETURN_IF_ERROR(file.Append(buf));
        buf.clear();
      }
    }
    return file.Append(buf);
  }

  // Parses hnswlib's format from `bytes` for vectors of `dim` floats. Every
  // error is DATA_LOSS naming `path`. On error the object stays destructible.
  absl::Status LoadFrom(const std::string& path, const std::string& bytes, size_t dim,
                        size_t ref_bytes) {
    absl::StatusOr<hnsw_format::Layout> layout = hnsw_format::Parse(path, bytes, dim, ref_bytes);
    if (!layout.ok()) return layout.status();
    Install(*layout, bytes);
    return absl::OkStatus();
  }

  // Copies a checked file into the (empty) graph. Allocation failures throw
  // std::bad_alloc (the caller catches it).
  void Install(const hnsw_format::Layout& layout, const std::string& bytes) {
    const hnsw_format::Header& h = layout.header;
    const size_t count = h.count;
    const size_t capacity = std::max<size_t>(count, 1);
    M_ = h.m;
    maxM_ = h.max_m;
    maxM0_ = h.max_m0;
    ef_construction_ = h.ef_construction;
    mult_ = h.mult;
    revSize_ = 1.0 / h.mult;
    offsetLevel0_ = 0;
    offsetData_ = h.offset_data;
    label_offset_ = h.label_offset;
    size_data_per_element_ = h.size_per_element;
    size_links_level0_ = layout.links0;
    size_links_per_element_ = layout.links_per_element;
    max_elements_ = capacity;
    data_level0_memory_ = static_cast<char*>(std::malloc(capacity * h.size_per_element));
    if (data_level0_memory_ == nullptr) throw std::bad_alloc();
    AdviseHugePages();
    if (count > 0) {
      std::memcpy(data_level0_memory_, bytes.data() + layout.level0_pos,
                  count * h.size_per_element);
    }
    linkLists_ = static_cast<char**>(std::calloc(capacity, sizeof(char*)));
    if (linkLists_ == nullptr) throw std::bad_alloc();
    element_levels_ = std::vector<int>(capacity, 0);
    visited_list_pool_ = new hnswlib::VisitedListPool(1, static_cast<int>(capacity));
    for (size_t i = 0; i < count; ++i) {
      const int level = layout.levels[i];
      if (level > 0) {
        const size_t n = layout.links_per_element * static_cast<size_t>(level);
        linkLists_[i] = static_cast<char*>(std::calloc(UpperLinksBytes(level), 1));
        if (linkLists_[i] == nullptr) throw std::bad_alloc();
        std::memcpy(linkLists_[i], bytes.data() + layout.link_pos[i], n);
      }
      element_levels_[i] = level;
      cur_element_count = i + 1;  // the destructor frees exactly these
    }
    enterpoint_node_ = count > 0 ? h.entry : kNoId;
    maxlevel_ = count > 0 ? h.max_level : -1;
    num_deleted_ = 0;
    ef_ = 10;
  }

  size_t MemoryBytes() const {
    size_t bytes = max_elements_ * size_data_per_element_ + max_elements_ * sizeof(char*) +
                   element_levels_.capacity() * sizeof(int) +
                   max_elements_ * sizeof(hnswlib::vl_type) +
                   link_list_locks_.size() * sizeof(std::mutex) +
                   link_list_update_locks_.size() * sizeof(std::mutex);
    for (size_t i = 0; i < cur_element_count; ++i) {
      if (element_levels_[i] > 0) {
        bytes += size_links_per_element_ * static_cast<size_t>(element_levels_[i]);
      }
    }
    return bytes;
  }
};

}  // namespace

struct HnswIndex::Impl {
  Metric metric = Metric::kL2;
  size_t dim = 0;
  bool by_ref = false;               // BuildOver / LoadOver
  const float* rows_base = nullptr;  // the rows' base (by_ref); AddOver must pass the same
  // Searches, saves and the size share it; Add holds it alone per batch.
  mutable WriterFirstLock mu;
  std::unique_ptr<Space> space;
  std::unique_ptr<Graph> graph;
  // Slot -> internal id. Dense (a bitset of the slots in the graph and an id
  // per slot) when the slots are not too sparse; otherwise (a graph over a
  // few slots of a huge range, or labels from a corrupt file) a list sorted
  // by slot, so memory stays proportional to the graph.
  bool dense = true;
  Bitset in_graph;
  std::vector<tableint> id_of_slot;
  std::vector<std::pair<uint32_t, tableint>> sorted;  // sparse only

  void IndexLabels() {
    const size_t count = graph->cur_element_count;
    size_t max_slot = 0;
    for (size_t i = 0; i < count; ++i) {
      max_slot = std::max<size_t>(max_slot, graph->getExternalLabel(static_cast<tableint>(i)));
    }
    const size_t slots = count > 0 ? max_slot + 1 : 0;
    dense = slots <= 64 * count + 65536;
    std::vector<std::pair<uint32_t, tableint>>().swap(sorted);
    if (!dense) {
      in_graph = Bitset();
      std::vector<tableint>().swap(id_of_slot);
      sorted.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        sorted.emplace_back(
            static_cast<uint32_t>(graph->getExternalLabel(static_cast<tableint>(i))),
            static_cast<tableint>(i));
      }
      std::sort(sorted.begin(), sorted.end());
      return;
    }
    in_graph = Bitset(slots);
    id_of_slot.assign(slots, kNoId);
    for (size_t i = 0; i < count; ++i) {
      const size_t slot = graph->getExternalLabel(static_cast<tableint>(i));
      in_graph.Set(slot);
      id_of_slot[slot] = static_cast<tableint>(i);
    }
  }

  // IndexLabels for the rows from internal id `first` on, added since the
  // last indexing (a full pass when the slots no longer suit the layout).
  void IndexNewLabels(size_t first) {
    const size_t count = graph->cur_element_count;
    if (!dense) return IndexLabels();
    size_t max_slot = in_graph.size();
    for (size_t i = first; i < count; ++i) {
      max_slot =
          std::max<size_t>(max_slot, graph->getExternalLabel(static_cast<tableint>(i)) + size_t{1});
    }
    if (max_slot > 64 * count + 65536) return IndexLabels();
    if (max_slot > in_graph.size()) {
      in_graph.Resize(max_slot, false);
      id_of_slot.resize(max_slot, kNoId);
    }
    for (size_t i = first; i < count; ++i) {
      const size_t slot = graph->getExternalLabel(static_cast<tableint>(i));
      in_graph.Set(slot);
      id_of_slot[slot] = static_cast<tableint>(i);
    }
  }

  // Calls fn(internal id) for every graph row whose slot is allowed.
  template <typename Fn>
  void ForEachAllowed(const Bitset& allowed, Fn fn) const {
    if (dense) {
      const std::vector<uint64_t>& a = allowed.words();
      const std::vector<uint64_t>& in = in_graph.words();
      const size_t words = std::min(a.size(), in.size());
      for (size_t w = 0; w < words; ++w) {
        for (uint64_t bits = a[w] & in[w]; bits != 0; bits &= bits - 1) {
          fn(id_of_slot[w * 64 + __builtin_ctzll(bits)]);
        }
      }
      return;
    }
    for (const auto& [slot, id] : sorted) {
      if (slot < allowed.size() && allowed.Test(slot)) fn(id);
    }
  }

  size_t CountAllowed(const Bitset& allowed) const {
    if (dense) {
      const std::vector<uint64_t>& a = allowed.words();
      const std::vector<uint64_t>& in = in_graph.words();
      const size_t words = std::min(a.size(), in.size());
      size_t count = 0;
      for (size_t w = 0; w < words; ++w) count += __builtin_popcountll(a[w] & in[w]);
      return count;
    }
    size_t count = 0;
    ForEachAllowed(allowed, [&count](tableint) { ++count; });
    return count;
  }
};

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::~HnswIndex() = default;

Metric HnswIndex::metric() const { return impl_->metric; }
size_t HnswIndex::dim() const { return impl_->dim; }
bool HnswIndex::reads_in_place() const { return impl_->by_ref; }
size_t HnswIndex::size() const {
  std::shared_lock<WriterFirstLock> lock(impl_->mu);
  return impl_->graph->cur_element_count;
}
size_t HnswIndex::memory_bytes() const {
  std::shared_lock<WriterFirstLock> lock(impl_->mu);
  return sizeof(Impl) + impl_->graph->MemoryBytes() + impl_->in_graph.words().size() * 8 +
         impl_->id_of_slot.capacity() * sizeof(tableint) +
         impl_->sorted.capacity() * sizeof(impl_->sorted[0]);
}

namespace {

absl::Status CheckBuildArgs(size_t dim, const float* base, const uint32_t* slots, size_t count,
                            const HnswParams& params) {
  if (dim == 0) return absl::InvalidArgumentError("HNSW: dim must be >= 1");
  if (params.m < 2 || params.m > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW: m = ", params.m, " is outside the allowed range 2..128"));
  }
  if (params.ef_construction < 1 || params.ef_construction > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW: ef_construction = ", params.ef_construction, " is outside 1..4096"));
  }
  if (count >= kNoId) {
    return absl::InvalidArgumentError(
        absl::StrCat("HNSW: ", count, " rows exceed the 32-bit id range"));
  }
  if (count > 0 && (base == nullptr || slots == nullptr)) {
    return absl::InvalidArgumentError("HNSW: base and slots must not be null");
  }
  return absl::OkStatus();
}

// Levels drawn serially from the seed, exactly as hnswlib would for serial
// inserts (-ln U * 1/ln M), capped against U = 0.
std::vector<int> DrawLevels(size_t count, uint64_t seed, double mult) {
  std::vector<int> levels(count);
  std::default_random_engine gen(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (size_t i = 0; i < count; ++i) {
    levels[i] = static_cast<int>(std::min(-std::log(u(gen)) * mult, 64.0));
  }
  return levels;
}

// Inserts rows slots[0..count) into `g` with levels[0..count) on up to
// `num_threads` threads (0 = hardware concurrency): the first alone (it
// becomes the entry point of an empty graph), then the rest from a shared
// counter. point(i, &scratch) gives the element data of row i (the vector,
// or a RowRef built in scratch). hnswlib's exceptions become
// RESOURCE_EXHAUSTED (allocation) or INTERNAL.
template <typename PointFn>
absl::Status InsertAll(Graph& g, const uint32_t* slots, size_t count, const PointFn& point,
                       const int* levels, int num_threads, size_t min_rows_per_thread = 256) {
  if (count == 0) return absl::OkStatus();
  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const size_t threads = std::min<size_t>(num_threads > 0 ? static_cast<size_t>(num_threads) : hw,
                                          std::max<size_t>(1, count / min_rows_per_thread));
  std::atomic<size_t> next{1};
  std::mutex error_mu;
  std::string error;           // guarded by error_mu
  bool out_of_memory = false;  // guarded by error_mu
  auto insert_range = [&](size_t first_only) {
    try {
      RowRef scratch;
      if (first_only != 0) {
        g.Insert(point(0, &scratch), slots[0], levels[0]);
        return;
      }
      for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
        g.Insert(point(i, &scratch), slots[i], levels[i]);
      }
    } catch (const std::bad_alloc&) {
      std::lock_guard<std::mutex> lock(error_mu);
      out_of_memory = true;
      next = count;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (error.empty()) error = e.what();
      next = count;
    }
  };
  insert_range(1);
  std::vector<std::thread> workers;
  try {
    for (size_t t = 1; t < threads; ++t) workers.emplace_back(insert_range, 0);
  } catch (const std::system_error&) {
    // No more threads: the ones started (and this one) insert the rest.
  }
  insert_range(0);
  for (std::thread& t : workers) t.join();
  if (out_of_memory) {
    return absl::ResourceExhaustedError(
        absl::StrCat("HNSW: out of memory building a graph of ", count, " rows"));
  }
  if (!error.empty()) return absl::InternalError(absl::StrCat("HNSW build failed: ", error));
  return absl::OkStatus();
}

// The element data of a row: the row itself, or a RowRef to it.
struct CopyPoint {
  const float* base;
  const uint32_t* slots;
  size_t dim;
  const void* operator()(size_t i, RowRef*) const {
    return base + static_cast<size_t>(slots[i]) * dim;
  }
};
struct RefPoint {
  const float* base;
  const uint32_t* slots;
  size_t dim;
  bool cosine;
  const void* operator()(size_t i, RowRef* r) const {
    const float* v = base + static_cast<size_t>(slots[i]) * dim;
    *r = RowRef{v, cosine ? InverseNorm(v, dim) : 1.0f, slots[i]};
    return r;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Build(Metric metric, size_t dim,
                                                            const float* base,
                                                            const uint32_t* slots, size_t count,
                                                            const HnswParams& params,
                                                            int num_threads) {
  return BuildRows(metric, dim, base, /*by_ref=*/false, slots, count, params, num_threads);
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::BuildOver(Metric metric, size_t dim,
                                                                const RowSource& rows,
                                                                const uint32_t* slots, size_t count,
                                                                const HnswParams& params,
                                                                int num_threads) {
  for (size_t i = 0; i < count && slots != nullptr; ++i) {
    if (slots[i] >= rows.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("HNSW: slot ", slots[i], " is outside the ", rows.rows, " rows"));
    }
  }
  return BuildRows(metric, dim, rows.base, /*by_ref=*/true, slots, count, params, num_threads);
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::BuildRows(Metric metric, size_t dim,
                                                                const float* base, bool by_ref,
                                                                const uint32_t* slots, size_t count,
                                                                const HnswParams& params,
                                                                int num_threads) {
  LS_RETURN_IF_ERROR(CheckBuildArgs(dim, base, slots, count, params));
  auto impl = std::make_unique<Impl>();
  impl->metric = metric;
  impl->dim = dim;
  impl->by_ref = by_ref;
  impl->rows_base = by_ref ? base : nullptr;
  impl->space = std::make_unique<Space>(metric, dim, by_ref);
  try {
    impl->graph = std::make_unique<Graph>(impl->space.get(), std::max<size_t>(count, 1), params.m,
                                          params.ef_construction, params.seed);
    impl->graph->by_ref = by_ref;
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("HNSW: cannot allocate a graph of ", count, " rows: ", e.what()));
  }
  Graph& g = *impl->graph;
  const std::vector<int> levels = DrawLevels(count, params.seed, g.mult_);
  if (by_ref) {
    LS_RETURN_IF_ERROR(InsertAll(g, slots, count,
                                 RefPoint{base, slots, dim, metric == Metric::kCosine},
                                 levels.data(), num_threads));
  } else {
    LS_RETURN_IF_ERROR(
        InsertAll(g, slots, count, CopyPoint{base, slots, dim}, levels.data(), num_threads));
  }
  g.FreeBuildState();
  impl->IndexLabels();
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

absl::Status HnswIndex::Add(const float* base, const uint32_t* slots, size_t count, uint64_t seed,
                            int num_threads) {
  if (impl_->by_ref) {
    return absl::FailedPreconditionError("HNSW: Add on a graph over rows; use AddOver");
  }
  return AddRows(base, slots, count, seed, num_threads);
}

absl::Status HnswIndex::AddOver(const RowSource& rows, const uint32_t* slots, size_t count,
                                uint64_t seed, int num_threads) {
  if (!impl_->by_ref) {
    return absl::FailedPreconditionError("HNSW: AddOver on a graph that copies its rows; use Add");
  }
  for (size_t i = 0; i < count && slots != nullptr; ++i) {
    if (slots[i] >= rows.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("HNSW: slot ", slots[i], " is outside the ", rows.rows, " rows"));
    }
  }
  if (rows.base != impl_->rows_base) {
    return absl::FailedPreconditionError(
        "HNSW: AddOver with rows other than those the graph was built or loaded over");
  }
  return AddRows(rows.base, slots, count, seed, num_threads);
}

absl::Status HnswIndex::AddRows(const float* base, const uint32_t* slots, size_t count,
                                uint64_t seed, int num_threads) {
  if (count == 0) return absl::OkStatus();
  if (base == nullptr || slots == nullptr) {
    return absl::InvalidArgumentError("HNSW: base and slots must not be null");
  }
  Graph& g = *impl_->graph;
  size_t have = 0;
  {
    std::unique_lock<WriterFirstLock> lock(impl_->mu);
    have = g.cur_element_count;
    if (have + count >= kNoId) {
      return absl::InvalidArgumentError(
          absl::StrCat("HNSW: ", have + count, " rows exceed the 32-bit id range"));
    }
    try {
      // Geometric growth: a graph extended batch by batch is not copied
      // (hnswlib's resizeIndex reallocates) on every batch.
      g.PrepareInsert(std::max(have + count, have + have / 4));
    } catch (const std::exception& e) {
      g.FreeBuildState();
      return absl::ResourceExhaustedError(
          absl::StrCat("HNSW: cannot grow a graph of ", have, " rows by ", count, ": ", e.what()));
    }
  }
  const std::vector<int> levels = DrawLevels(count, seed ^ (have * 0x9E3779B97F4A7C15ull), g.mult_);
  const size_t dim = impl_->dim;
  const bool cosine = impl_->metric == Metric::kCosine;
  absl::Status s;
  // A batch at a time under the writer lock: searches run between batches
  // and see every row of the batches before.
  for (size_t b = 0; b < count && s.ok(); b += kAddBatchRows) {
    const size_t m = std::min(kAddBatchRows, count - b);
    std::unique_lock<WriterFirstLock> lock(impl_->mu);
    const size_t before = g.cur_element_count;
    // InsertAll's first-alone step is only needed for an empty graph; it is
    // harmless here.
    if (impl_->by_ref) {
      s = InsertAll(g, slots + b, m, RefPoint{base, slots + b, dim, cosine}, levels.data() + b,
                    num_threads, kAddRowsPerThread);
    } else {
      s = InsertAll(g, slots + b, m, CopyPoint{base, slots + b, dim}, levels.data() + b,
                    num_threads, kAddRowsPerThread);
    }
    impl_->IndexNewLabels(before);
  }
  std::unique_lock<WriterFirstLock> lock(impl_->mu);
  g.FreeBuildState();
  return s;
}

absl::Status HnswIndex::Save(const std::string& path, base::FileOps* ops) const {
  std::shared_lock<WriterFirstLock> lock(impl_->mu);
  return impl_->graph->SaveTo(path, ops != nullptr ? *ops : base::DefaultFileOps(), impl_->by_ref);
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::Load(const std::string& path, Metric metric,
                                                           size_t dim) {
  if (dim == 0) return absl::InvalidArgumentError("HNSW: dim must be >= 1");
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  if (!bytes.ok()) {
    return absl::DataLossError(
        absl::StrCat("HNSW index ", path, ": cannot read: ", bytes.status().message()));
  }
  return LoadFromBytes(path, *bytes, metric, dim);
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::LoadFromBytes(const std::string& path,
                                                                    const std::string& bytes,
                                                                    Metric metric, size_t dim) {
  return LoadRows(path, bytes, metric, dim, nullptr);
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::LoadOver(const std::string& path,
                                                               const std::string& bytes,
                                                               Metric metric, size_t dim,
                                                               const RowSource& rows) {
  return LoadRows(path, bytes, metric, dim, &rows);
}

absl::StatusOr<std::unique_ptr<HnswIndex>> HnswIndex::LoadRows(const std::string& path,
                                                               const std::string& bytes,
                                                               Metric metric, size_t dim,
                                                               const RowSource* rows) {
  if (dim == 0) return absl::InvalidArgumentError("HNSW: dim must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->metric = metric;
  impl->dim = dim;
  impl->by_ref = rows != nullptr;
  impl->rows_base = rows != nullptr ? rows->base : nullptr;
  impl->space = std::make_unique<Space>(metric, dim, impl->by_ref);
  try {
    impl->graph = std::make_unique<Graph>(impl->space.get());
    impl->graph->by_ref = impl->by_ref;
    absl::Status s =
        impl->graph->LoadFrom(path, bytes, dim, impl->by_ref ? sizeof(RowRef) : size_t{0});
    if (!s.ok()) return s;
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        absl::StrCat("HNSW index ", path, ": out of memory loading it"));
  }
  if (rows != nullptr) {
    // Point every element at its row (the file holds zeros there).
    Graph& g = *impl->graph;
    const bool cosine = metric == Metric::kCosine;
    for (size_t i = 0; i < g.cur_element_count; ++i) {
      const labeltype slot = g.getExternalLabel(static_cast<tableint>(i));
      if (slot >= rows->rows) {
        return absl::DataLossError(absl::StrCat("HNSW index ", path, ": element ", i,
                                                " names slot ", slot, ", but only ", rows->rows,
                                                " vectors exist"));
      }
      const float* v = rows->base + static_cast<size_t>(slot) * dim;
      const RowRef r{v, cosine ? InverseNorm(v, dim) : 1.0f, static_cast<uint32_t>(slot)};
      std::memcpy(g.getDataByInternalId(static_cast<tableint>(i)), &r, sizeof(r));
    }
  }
  impl->IndexLabels();
  return std::unique_ptr<HnswIndex>(new HnswIndex(std::move(impl)));
}

HnswResult HnswIndex::Search(const float* query_rows, const HnswSearchOptions& options) const {
  HnswResult result;
  std::shared_lock<WriterFirstLock> lock(impl_->mu);
  const Graph& g = *impl_->graph;
  const RowRef query_ref{query_rows, 1.0f, 0};
  const void* query =
      impl_->by_ref ? static_cast<const void*>(&query_ref) : static_cast<const void*>(query_rows);
  const size_t n = g.cur_element_count;
  const size_t k = options.k;
  if (n == 0 || k == 0) return result;
  const size_t ef = std::max(options.ef, k);
  const Bitset* allowed = options.allowed;

  size_t allowed_rows = n;
  if (allowed != nullptr) {
    allowed_rows = impl_->CountAllowed(*allowed);
    if (allowed_rows == n) allowed = nullptr;  // the filter excludes nothing here
  }
  if (allowed_rows == 0) return result;

  std::vector<DistId> found;
  const double m = static_cast<double>(allowed_rows);
  if (allowed != nullptr && options.allow_exact_scan &&
      (allowed_rows <= ef ||
       m * m <= kExactScanFactor * static_cast<double>(ef) * static_cast<double>(n))) {
    // Few allowed rows: score them all (canonical kernels, exact).
    found.reserve(allowed_rows);
    impl_->ForEachAllowed(*allowed, [&](tableint id) {
      found.emplace_back(g.fstdistfunc_(query, g.getDataByInternalId(id), g.dist_func_param_), id);
    });
    result.distance_computations = found.size();
    result.exact_scan = true;
  } else {
    size_t computations = 0;
    bool capped = false;
    const tableint ep = g.Descend(query, &computations);
    ResultHeap top = g.SearchLayer0(ep, query, ef, allowed, /*max_computations=*/
                                    allowed != nullptr ? n : std::numeric_limits<size_t>::max(),
                                    &computations, &capped);
    found.reserve(top.size());
    while (!top.empty()) {
      found.push_back(top.top());
      top.pop();
    }
    result.distance_computations = computations;
    if (allowed != nullptr && (capped || found.size() < std::min(k, allowed_rows))) {
      result.complete = false;
    }
  }

  // Closest first (user-facing distance), equal distances by slot.
  std::vector<std::pair<float, uint32_t>> hits;
  hits.reserve(found.size());
  const bool l2 = impl_->metric == Metric::kL2;
  for (const DistId& d : found) {
    hits.emplace_back(l2 ? ScoreToDistance(Metric::kL2, d.first) : d.first,
                      static_cast<uint32_t>(g.getExternalLabel(d.second)));
  }
  const size_t take = std::min(k, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<ptrdiff_t>(take), hits.end());
  result.neighbors.reserve(take);
  for (size_t i = 0; i < take; ++i) result.neighbors.push_back({hits[i].second, hits[i].first});
  return result;
}

}  // namespace latentsearch::index

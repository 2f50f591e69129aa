// Exact k-NN by a blocked scan.
//
// Work is cut into tasks on the shared thread pool: normally ranges of the
// base, each scanned for all queries, merged per query at the end; for a
// small base with many queries, groups of queries scanning the whole base.
// Within a task the base is walked in blocks of allowed rows (the filter is
// applied while forming the blocks, so disallowed rows are never scored);
// each block is scored for all of the task's queries while it is in cache.
//
// Two scoring paths:
//  * row path (few queries): the row kernels, whose scores are the canonical
//    pair-kernel scores;
//  * lane path (>= kLaneMinQueries queries): the block is packed into
//    transposed 64-row panels and scored GEMM-style (L2 as ||b||² - 2 q.b,
//    L1 as sum b - 2 sum min(q, b)). Those scores may differ from the
//    canonical ones by a bounded rounding error E, so each query keeps every
//    row within 2E of its running k-th best, and the survivors are rescored
//    with the pair kernel. The results are therefore the same, bit for bit,
//    as the row path's: independent of batch size, thread count and block
//    layout.
//
// Candidate selection: each score is compared with the query's threshold
// tau (in SIMD, inside the kernels; almost always rejecting); survivors go to
// a buffer and a k-element heap that keeps tau at the running k-th best.
// Ties on the final (canonical) score go to the smaller slot.
#include "common/index/exact.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/index/bitset.h"
#include "common/index/kernels.h"
#include "common/index/metric.h"
#include "common/index/thread_pool.h"

namespace latentsearch::index {
namespace {

using internal::KernelTable;
using internal::kPanelRows;

// Queries per task from which the lane (GEMM-style) path pays for packing.
constexpr size_t kLaneMinQueries = 4;
// Below this much work (queries x rows x dim) per thread, waking a helper
// costs more than it saves (~30 us of scanning on one core).
constexpr double kMinWorkPerThread = 1 << 17;
// Query split only when every thread gets at least this many queries and
// the base has fewer than kMinRowsPerTask rows per thread; otherwise the base
// is split (each block is then packed once, not once per query group).
constexpr size_t kMinQueriesPerThread = 8;
constexpr size_t kMinRowsPerTask = 1024;
// Target size of a block (packed panel or row block) in bytes: half of a
// 2 MiB L2, so the block stays resident while all queries pass over it.
constexpr size_t kBlockBytes = 256 * 1024;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Candidate {
  float score;
  uint32_t slot;
};

// A function object (not a function pointer) so the sorts inline it.
struct Better {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.slot < b.slot);
  }
};

// The rows of one query that may still be among its k best.
// Invariant: every scanned row whose score is <= tau() is in the buffer.
// tau = kth + 2 abs, where kth is the k-th best score so far (a max-heap of
// the k best keeps it current) and abs bounds the rounding error of
// approximate scores (0 for exact ones); or, if lower, the bound other tasks
// of the same query share: `shared` holds an upper bound on the query's
// final k-th best canonical score (a sample's k-th best to start with, then
// each task's kth + shift + abs), `shift` the constant lane scores omit.
// Rows that fall above tau later are trimmed when the buffer fills.
class Collector {
 public:
  void Init(size_t k, std::atomic<float>* shared = nullptr, float shift = 0) {
    k_ = k;
    shared_ = shared;
    shift_ = shift;
    cap_ = std::max<size_t>(4 * k, k + 64);
    abs_ = 0;
    tau_ = kInf;
    publish_ = false;
    buf_.clear();
    buf_.reserve(std::min<size_t>(cap_, 4096));
    heap_.clear();
    heap_.reserve(std::min<size_t>(k_, 4096));
  }
  float tau() const {
    float t = tau_;
    if (shared_ != nullptr) {
      const float u = shared_->load(std::memory_order_relaxed);
      // The second abs covers the rounding of u - shift (abs >= 5u times
      // the magnitudes involved).
      if (u != kInf) t = std::min(t, (u - shift_) + 2 * abs_);
    }
    return t;
  }
  // Widens the slack to at least `e` (the error bound of a new block).
  void RaiseAbs(float e) {
    if (e > abs_) {
      abs_ = e;
      UpdateTau();
    }
  }
  // Only for scores <= tau().
  void Add(float score, uint32_t slot) {
    // Built in a register: two 4-byte stack stores read back as one 8-byte
    // value would stall store forwarding on every add.
    uint32_t score_bits;
    std::memcpy(&score_bits, &score, sizeof(score_bits));
    const uint64_t packed = score_bits | (uint64_t{slot} << 32);
    Candidate c;
    static_assert(sizeof(c) == sizeof(packed), "Candidate is {float, uint32_t}");
    std::memcpy(&c, &packed, sizeof(c));
    buf_.push_back(c);
    if (heap_.size() < k_) {
      heap_.push_back(score);
      std::push_heap(heap_.begin(), heap_.end());
      if (heap_.size() == k_) UpdateTau();
    } else if (score < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = score;
      std::push_heap(heap_.begin(), heap_.end());
      UpdateTau();
    }
  }
  // After a batch of adds: trims a full buffer and shares a better bound
  // (one atomic operation per batch rather than per add).
  void EndBatch() {
    if (buf_.size() >= cap_) Trim();
    if (publish_ && shared_ != nullptr) {
      publish_ = false;
      const float bound = heap_.front() + shift_ + abs_;
      float cur = shared_->load(std::memory_order_relaxed);
      while (bound < cur &&
             !shared_->compare_exchange_weak(cur, bound, std::memory_order_relaxed)) {
      }
    }
  }
  void Trim() {
    const float t = tau();
    buf_.erase(
        std::remove_if(buf_.begin(), buf_.end(), [t](const Candidate& c) { return c.score > t; }),
        buf_.end());
    // Many rows within the slack (near-ties): grow instead of trimming over
    // and over.
    if (buf_.size() * 2 > cap_) cap_ *= 2;
  }
  std::vector<Candidate>& buffer() { return buf_; }

 private:
  void UpdateTau() {
    if (heap_.size() < k_) return;
    tau_ = heap_.front() + 2 * abs_;
    publish_ = true;
  }

  size_t k_ = 1;
  std::atomic<float>* shared_ = nullptr;
  float shift_ = 0;
  size_t cap_ = 0;
  float abs_ = 0;
  float tau_ = kInf;
  bool publish_ = false;  // the heap improved since the last EndBatch
  std::vector<Candidate> buf_;
  std::vector<float> heap_;  // max-heap of the k best scores so far
};

// Everything a task needs; read-only during the scan.
struct Problem {
  const KernelTable* kt;
  Metric metric;
  int kind;  // internal::ScoreKind
  const float* base;
  size_t n;
  size_t dim;
  const float* queries;
  const Bitset* allowed;  // nullptr: every row
  const float* scale;     // kScoreNegDot: per-row factor (ExactSearchOptions::row_scale)
  size_t k;
  size_t block_rows;  // multiple of 64
  float gamma;        // bound on the relative rounding error of a dim-sum
};

// Rounding error bound of an (approximate) lane score relative to the
// canonical one (shifted by the query constant the lane score omits), for a
// query of magnitude `qn` against rows of magnitude at most `bn` (norms for
// L2 / cosine, sums of absolute values for L1). Both scores are float sums
// of dim terms, each within gamma = (dim + 4) u of the exact value relative
// to the sum of the terms' magnitudes:
//   L2: |(||b||² - 2 q.b) - (||q - b||² - ||q||²)| <= 2 gamma (qn + bn)²
//   cosine: |q.b - q.b'| <= 2 gamma qn bn
//   L1: |(sum b - 2 sum min(q, b)) - (sum |q - b| - sum q)|
//       <= 7 gamma (qn + bn)
// doubled for safety.
float LaneAbsError(const Problem& p, float qn, float bn) {
  switch (p.kind) {
    case internal::kScoreL2:
      return 4 * p.gamma * (qn + bn) * (qn + bn);
    case internal::kScoreNegDot:
      return 4 * p.gamma * qn * bn;
    default:
      return 14 * p.gamma * (qn + bn);
  }
}

// One query range's collectors and the lane path's per-query magnitudes.
struct QueryState {
  std::vector<Collector> cols;
  std::vector<float> qnorm;  // lane error bound factor per query (0 on the row path)
};

// Initialises the collectors of queries [q0, q0 + nq). For the lane path it
// also takes each query's magnitude for the error bounds (sum |q| for L1,
// ||q||) and the constant the lane scores omit (sum q for L1, ||q||² for L2).
QueryState InitQueries(const Problem& p, size_t q0, size_t nq, bool lane,
                       std::atomic<float>* shared) {
  QueryState st;
  st.cols.resize(nq);
  st.qnorm.assign(nq, 0);
  const size_t dim = p.dim;
  for (size_t q = 0; q < nq; ++q) {
    double magnitude = 0, shift = 0;
    if (lane) {
      const float* qv = p.queries + (q0 + q) * dim;
      for (size_t j = 0; j < dim; ++j) {
        const double x = qv[j];
        if (p.kind == internal::kScoreL1) {
          magnitude += std::fabs(x);
          shift += x;
        } else {
          magnitude += x * x;
        }
      }
      if (p.kind == internal::kScoreL2) shift = magnitude;
      if (p.kind != internal::kScoreL1) magnitude = std::sqrt(magnitude);
      st.qnorm[q] = static_cast<float>(magnitude) * (1 + p.gamma);
    }
    st.cols[q].Init(p.k, shared != nullptr ? &shared[q] : nullptr, static_cast<float>(shift));
  }
  return st;
}

// A block of up to block_rows rows: either contiguous from `first`, or the
// allowed rows listed in `slots` (when a filter is set).
struct Block {
  size_t m = 0;
  size_t first = 0;
  const uint32_t* slots = nullptr;
  uint32_t slot(size_t i) const {
    return static_cast<uint32_t>(slots != nullptr ? slots[i] : first + i);
  }
};

// Forms the next block from *pos (advanced past it) up to r1; m == 0 at the
// end. `slot_buffer` holds block_rows entries when a filter is set.
Block NextBlock(const Problem& p, const uint64_t* words, size_t r1, size_t* pos,
                uint32_t* slot_buffer) {
  Block b;
  const size_t cap = p.block_rows;
  if (words == nullptr) {
    b.first = *pos;
    b.m = std::min(cap, r1 - *pos);
    *pos += b.m;
    return b;
  }
  while (*pos < r1 && b.m < cap) {
    const size_t wi = *pos >> 6;
    const size_t wend = std::min(r1, (wi + 1) * 64);
    uint64_t w = words[wi] & (~uint64_t{0} << (*pos & 63));
    if ((wend & 63) != 0) w &= (uint64_t{1} << (wend & 63)) - 1;
    while (w != 0 && b.m < cap) {
      slot_buffer[b.m++] = static_cast<uint32_t>(wi * 64 + __builtin_ctzll(w));
      w &= w - 1;
    }
    *pos = w != 0 ? wi * 64 + __builtin_ctzll(w) : wend;
  }
  b.slots = slot_buffer;
  return b;
}

// The row path (few queries): exact scores of every row of the block for
// each query, then the rows under the query's threshold.
void ScanBlockRows(const Problem& p, size_t q0, const Block& b, QueryState& st, float* scores,
                   uint32_t* idx) {
  for (size_t q = 0; q < st.cols.size(); ++q) {
    Collector& col = st.cols[q];
    p.kt->rows[p.kind](p.queries + (q0 + q) * p.dim, p.base, p.dim, b.slots, b.first, b.m, scores);
    if (p.scale != nullptr) {
      for (size_t i = 0; i < b.m; ++i) scores[i] *= p.scale[b.slot(i)];
    }
    const size_t hits = p.kt->select_le(scores, b.m, col.tau(), idx);
    for (size_t h = 0; h < hits; ++h) col.Add(scores[idx[h]], b.slot(idx[h]));
    col.EndBatch();
  }
}

// Buffers of the lane path, sized once per ScanRange.
struct LaneBuffers {
  std::vector<float> panel;  // block_rows × dim, packed (PackPanel)
  std::vector<float> aux;    // per-row sums / norms (PackPanel)
  std::vector<float> tile;   // kMaxLaneQueries × kPanelRows scores
};

// The lane path (many queries): packs the block, then panel-major: a 64-row
// panel stays in L1 while every query tile passes over it; the kernel flags
// the (approximate) scores under each query's threshold.
void ScanBlockLanes(const Problem& p, size_t q0, const Block& b, QueryState& st, LaneBuffers& buf) {
  const size_t nq = st.cols.size();
  const size_t dim = p.dim;
  const size_t tile_q = internal::kMaxLaneQueries;
  float magnitude =
      p.kt->pack(p.base, dim, b.slots, b.first, b.m, p.kind, buf.panel.data(), buf.aux.data());
  if (p.scale != nullptr) {
    // Scaled rows (unit length, or zero) in the panels: the lane scores are
    // then approximations of the canonical -q.row · scale like any other.
    magnitude = 0;
    for (size_t i = 0; i < b.m; ++i) {
      const float s = p.scale[b.slot(i)];
      float* col = buf.panel.data() + (i / kPanelRows) * kPanelRows * dim + i % kPanelRows;
      for (size_t j = 0; j < dim; ++j) col[j * kPanelRows] *= s;
      buf.aux[i] *= s * s;
      magnitude = std::max(magnitude, buf.aux[i]);
    }
  }
  const float max_bn =
      (p.kind == internal::kScoreL1 ? magnitude : std::sqrt(magnitude)) * (1 + p.gamma);
  for (size_t q = 0; q < nq; ++q) st.cols[q].RaiseAbs(LaneAbsError(p, st.qnorm[q], max_bn));
  const size_t panels = (b.m + kPanelRows - 1) / kPanelRows;
  for (size_t pi = 0; pi < panels; ++pi) {
    const size_t valid = std::min(kPanelRows, b.m - pi * kPanelRows);
    const uint64_t valid_mask = valid == kPanelRows ? ~uint64_t{0} : (uint64_t{1} << valid) - 1;
    const float* pan = buf.panel.data() + pi * kPanelRows * dim;
    const float* pan_aux = buf.aux.data() + pi * kPanelRows;
    for (size_t t0 = 0; t0 < nq; t0 += tile_q) {
      const int mq = static_cast<int>(std::min(tile_q, nq - t0));
      float taus[internal::kMaxLaneQueries];
      uint64_t masks[internal::kMaxLaneQueries];
      for (int i = 0; i < mq; ++i) taus[i] = st.cols[t0 + i].tau();
      p.kt->lane[p.kind](p.queries + (q0 + t0) * dim, mq, pan, dim, pan_aux, taus, buf.tile.data(),
                         masks);
      for (int i = 0; i < mq; ++i) {
        uint64_t bits = masks[i] & valid_mask;
        if (bits == 0) continue;
        Collector& col = st.cols[t0 + i];
        const float* s = buf.tile.data() + static_cast<size_t>(i) * kPanelRows;
        for (; bits != 0; bits &= bits - 1) {
          const size_t r = static_cast<size_t>(__builtin_ctzll(bits));
          col.Add(s[r], b.slot(pi * kPanelRows + r));
        }
        col.EndBatch();
      }
    }
  }
}

// Scores queries [q0, q1) against the allowed rows in [r0, r1) and leaves
// each query's candidates in (*out)[q - q0]. shared[q - q0] (optional) is the
// query's bound shared with the other tasks (see Collector). Returns whether
// the scores are approximate (lane path), i.e. need rescoring.
bool ScanRange(const Problem& p, size_t q0, size_t q1, size_t r0, size_t r1,
               std::atomic<float>* shared, std::vector<std::vector<Candidate>>* out) {
  const size_t nq = q1 - q0;
  const bool lane = nq >= kLaneMinQueries;
  const size_t cap = p.block_rows;
  QueryState st = InitQueries(p, q0, nq, lane, shared);

  std::vector<uint32_t> slots(p.allowed != nullptr ? cap : 0);
  std::vector<uint32_t> idx(lane ? 0 : cap);
  std::vector<float> scores(lane ? 0 : cap);
  LaneBuffers buf;
  if (lane) {
    buf.panel.resize(cap * p.dim);
    buf.aux.resize(cap);
    buf.tile.resize(internal::kMaxLaneQueries * kPanelRows);
  }
  const uint64_t* words = p.allowed != nullptr ? p.allowed->words().data() : nullptr;

  size_t pos = r0;
  while (pos < r1) {
    const Block b = NextBlock(p, words, r1, &pos, slots.data());
    if (b.m == 0) break;
    if (lane) {
      ScanBlockLanes(p, q0, b, st, buf);
    } else {
      ScanBlockRows(p, q0, b, st, scores.data(), idx.data());
    }
  }

  out->resize(nq);
  for (size_t q = 0; q < nq; ++q) {
    st.cols[q].Trim();
    (*out)[q] = std::move(st.cols[q].buffer());
  }
  return lane;
}

// Canonical score of (query, row) with the problem's kernel table.
float CanonicalScore(const Problem& p, const float* q, uint32_t slot) {
  const float* row = p.base + static_cast<size_t>(slot) * p.dim;
  switch (p.kind) {
    case internal::kScoreL1:
      return p.kt->l1(q, row, p.dim);
    case internal::kScoreL2:
      return p.kt->l2sq(q, row, p.dim);
    default:
      return p.scale != nullptr ? -p.kt->dot(q, row, p.dim) * p.scale[slot]
                                : -p.kt->dot(q, row, p.dim);
  }
}

// Turns one query's candidates into its sorted top k.
void Finalize(const Problem& p, size_t q, bool rescore, std::vector<Candidate>* cands,
              std::vector<Neighbor>* result) {
  if (rescore) {
    const float* qv = p.queries + q * p.dim;
    size_t w = 0;
    for (const Candidate& c : *cands) {
      const float s = CanonicalScore(p, qv, c.slot);
      if (!std::isnan(s)) (*cands)[w++] = {s, c.slot};
    }
    cands->resize(w);
  }
  const size_t take = std::min(p.k, cands->size());
  std::partial_sort(cands->begin(), cands->begin() + static_cast<ptrdiff_t>(take), cands->end(),
                    Better());
  result->clear();
  result->reserve(take);
  for (size_t i = 0; i < take; ++i) {
    result->push_back({(*cands)[i].slot, ScoreToDistance(p.metric, (*cands)[i].score)});
  }
  // Distinct scores can round to the same distance (1 + score for cosine);
  // present equal distances in slot order, as users (and merges) expect.
  for (size_t i = 1; i < take; ++i) {
    if ((*result)[i].distance == (*result)[i - 1].distance) {
      std::sort(result->begin(), result->end(), [](const Neighbor& a, const Neighbor& b) {
        return a.distance != b.distance ? a.distance < b.distance : a.slot < b.slot;
      });
      break;
    }
  }
}

size_t CountAllowed(const Bitset& allowed, size_t n) {
  const std::vector<uint64_t>& w = allowed.words();
  size_t count = 0;
  for (size_t i = 0; i < n / 64; ++i) count += __builtin_popcountll(w[i]);
  if ((n & 63) != 0) {
    count += __builtin_popcountll(w[n / 64] & ((uint64_t{1} << (n & 63)) - 1));
  }
  return count;
}

absl::Status CheckSearchArgs(size_t n, size_t dim, const ExactSearchOptions& options,
                             const std::vector<std::vector<Neighbor>>* results) {
  if (options.k == 0) {
    return absl::InvalidArgumentError("ExactSearch: k must be >= 1");
  }
  if (dim == 0) {
    return absl::InvalidArgumentError("ExactSearch: dim must be >= 1");
  }
  if (results == nullptr) {
    return absl::InvalidArgumentError("ExactSearch: results must not be null");
  }
  if (options.allowed != nullptr && options.allowed->size() < n) {
    return absl::InvalidArgumentError(absl::StrCat("ExactSearch: the allowed set has ",
                                                   options.allowed->size(),
                                                   " bits; it needs at least n = ", n));
  }
  if (n > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ExactSearch: n = ", n, " exceeds the 32-bit slot range"));
  }
  return absl::OkStatus();
}

Problem MakeProblem(Metric metric, const float* base, size_t n, size_t dim, const float* queries,
                    const Bitset* allowed, const float* scale, size_t k) {
  Problem p;
  p.kt = &internal::Kernels();
  p.metric = metric;
  p.kind = metric == Metric::kL1   ? internal::kScoreL1
           : metric == Metric::kL2 ? internal::kScoreL2
                                   : internal::kScoreNegDot;
  p.base = base;
  p.n = n;
  p.dim = dim;
  p.queries = queries;
  p.allowed = allowed;
  p.scale = metric == Metric::kCosine ? scale : nullptr;
  p.k = k;
  p.block_rows = std::clamp<size_t>(kBlockBytes / (dim * sizeof(float)) / kPanelRows * kPanelRows,
                                    kPanelRows, 8 * kPanelRows);
  const double u = std::ldexp(1.0, -24);
  const double m = static_cast<double>(dim) + 4;
  p.gamma = static_cast<float>(m * u / (1 - m * u));
  return p;
}

// Query split (a base too small to share out): contiguous groups (whole lane
// tiles where possible), each scanning the whole base; more groups than
// threads for balance.
void SearchQuerySplit(const Problem& p, size_t nq, int threads,
                      std::vector<std::vector<Neighbor>>* results) {
  const size_t tasks_wanted = 4 * static_cast<size_t>(threads);
  size_t group = (nq + tasks_wanted - 1) / tasks_wanted;
  group = std::max(group, kLaneMinQueries);
  const size_t tq = internal::kMaxLaneQueries;
  group = (group + tq - 1) / tq * tq;
  const size_t tasks = (nq + group - 1) / group;
  internal::ThreadPool::Shared().ParallelFor(tasks, threads, [&](size_t t) {
    const size_t q0 = t * group, q1 = std::min(nq, q0 + group);
    std::vector<std::vector<Candidate>> cands;
    const bool rescore = ScanRange(p, q0, q1, 0, p.n, nullptr, &cands);
    for (size_t q = q0; q < q1; ++q) {
      Finalize(p, q, rescore, &cands[q - q0], &(*results)[q]);
    }
  });
}

constexpr size_t kMergeChunk = 64;  // queries per merge / bound-seeding task

// Shared bounds for the base split: each query's k-th best canonical score
// over a sample of rows spread across the base bounds its final k-th best,
// so no task starts from an infinite threshold (which floods its first
// panels into every query's candidates); tasks then lower the bound.
std::unique_ptr<std::atomic<float>[]> SeedSharedBounds(const Problem& p, size_t nq, int threads) {
  std::unique_ptr<std::atomic<float>[]> shared(new std::atomic<float>[nq]);
  for (size_t q = 0; q < nq; ++q) shared[q].store(kInf, std::memory_order_relaxed);
  std::vector<uint32_t> sample;
  const size_t want = std::min<size_t>(8 * p.k + 16, p.n);
  for (size_t j = 0; j < want; ++j) {
    const size_t i = j * p.n / want;
    if (p.allowed == nullptr || p.allowed->Test(i)) sample.push_back(static_cast<uint32_t>(i));
  }
  if (sample.size() < p.k) return shared;
  const size_t chunks = (nq + kMergeChunk - 1) / kMergeChunk;
  internal::ThreadPool::Shared().ParallelFor(chunks, chunks > 1 ? threads : 1, [&](size_t c) {
    std::vector<float> s(sample.size());
    for (size_t q = c * kMergeChunk; q < std::min(nq, (c + 1) * kMergeChunk); ++q) {
      const float* qv = p.queries + q * p.dim;
      for (size_t i = 0; i < sample.size(); ++i) s[i] = CanonicalScore(p, qv, sample[i]);
      std::nth_element(s.begin(), s.begin() + static_cast<ptrdiff_t>(p.k - 1), s.end());
      if (!std::isnan(s[p.k - 1])) shared[q].store(s[p.k - 1], std::memory_order_relaxed);
    }
  });
  return shared;
}

// Base split: 64-aligned row ranges, all queries each (every block is packed
// once), merged per query.
void SearchBaseSplit(const Problem& p, size_t nq, int threads,
                     std::vector<std::vector<Neighbor>>* results) {
  const size_t n = p.n;
  const size_t tasks_wanted =
      std::min<size_t>(4 * static_cast<size_t>(threads), std::max<size_t>(1, n / kMinRowsPerTask));
  size_t range = (n + tasks_wanted - 1) / tasks_wanted;
  range = (range + kPanelRows - 1) / kPanelRows * kPanelRows;
  const size_t tasks = (n + range - 1) / range;
  std::unique_ptr<std::atomic<float>[]> shared = SeedSharedBounds(p, nq, threads);
  internal::ThreadPool& pool = internal::ThreadPool::Shared();
  std::vector<std::vector<std::vector<Candidate>>> per_task(tasks);
  std::vector<char> approx(tasks, 0);
  pool.ParallelFor(tasks, threads, [&](size_t t) {
    const size_t r0 = t * range, r1 = std::min(n, r0 + range);
    approx[t] = ScanRange(p, 0, nq, r0, r1, shared.get(), &per_task[t]) ? 1 : 0;
  });
  const bool rescore = approx[0] != 0;  // same query count in every task
  const size_t chunks = (nq + kMergeChunk - 1) / kMergeChunk;
  pool.ParallelFor(chunks, chunks > 1 ? threads : 1, [&](size_t c) {
    std::vector<Candidate> merged;
    for (size_t q = c * kMergeChunk; q < std::min(nq, (c + 1) * kMergeChunk); ++q) {
      merged.clear();
      for (size_t t = 0; t < tasks; ++t) {
        merged.insert(merged.end(), per_task[t][q].begin(), per_task[t][q].end());
      }
      Finalize(p, q, rescore, &merged, &(*results)[q]);
    }
  });
}

}  // namespace

absl::Status ExactSearch(Metric metric, const float* base, size_t n, size_t dim,
                         const float* queries, size_t nq, const ExactSearchOptions& options,
                         std::vector<std::vector<Neighbor>>* results) {
  if (absl::Status s = CheckSearchArgs(n, dim, options, results); !s.ok()) return s;
  results->assign(nq, {});
  if (n == 0 || nq == 0) return absl::OkStatus();

  const Bitset* allowed = options.allowed;
  size_t rows = n;
  if (allowed != nullptr) {
    rows = CountAllowed(*allowed, n);
    if (rows == 0) return absl::OkStatus();
    if (rows == n) allowed = nullptr;  // everything allowed: contiguous blocks
  }
  const Problem p =
      MakeProblem(metric, base, n, dim, queries, allowed, options.row_scale, options.k);

  const int hw = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int max_threads = options.num_threads > 0 ? options.num_threads : hw;
  const double work =
      static_cast<double>(nq) * static_cast<double>(rows) * static_cast<double>(dim);
  const int threads =
      static_cast<int>(std::clamp<double>(std::floor(work / kMinWorkPerThread), 1, max_threads));

  if (threads == 1) {
    std::vector<std::vector<Candidate>> cands;
    const bool rescore = ScanRange(p, 0, nq, 0, n, nullptr, &cands);
    for (size_t q = 0; q < nq; ++q) Finalize(p, q, rescore, &cands[q], &(*results)[q]);
    return absl::OkStatus();
  }
  if (nq >= kMinQueriesPerThread * static_cast<size_t>(threads) &&
      n < kMinRowsPerTask * static_cast<size_t>(threads)) {
    SearchQuerySplit(p, nq, threads, results);
  } else {
    SearchBaseSplit(p, nq, threads, results);
  }
  return absl::OkStatus();
}

}  // namespace latentsearch::index

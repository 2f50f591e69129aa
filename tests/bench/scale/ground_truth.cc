// Brute-force exact neighbours for the scale benchmark (ground_truth.h).
// Thread-safety: pure functions.
#include "tests/bench/scale/ground_truth.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <queue>
#include <thread>
#include <utility>

namespace latentsearch::bench {
namespace {

// Smaller is closer: L1, squared L2, or 1 - dot for normalised rows.
float Distance(v1::Metric metric, const float* a, const float* b, uint32_t dim) {
  float s = 0;
  if (metric == v1::METRIC_L1) {
    for (uint32_t d = 0; d < dim; ++d) s += std::fabs(a[d] - b[d]);
    return s;
  }
  if (metric == v1::METRIC_L2) {
    for (uint32_t d = 0; d < dim; ++d) s += (a[d] - b[d]) * (a[d] - b[d]);
    return s;
  }
  for (uint32_t d = 0; d < dim; ++d) s += a[d] * b[d];
  return 1.0f - s;
}

std::vector<uint32_t> OneQuery(v1::Metric metric, const float* base, uint64_t n, uint32_t dim,
                               const float* query, uint32_t k) {
  using Entry = std::pair<float, uint32_t>;
  std::priority_queue<Entry> top;  // the worst kept on top
  for (uint64_t i = 0; i < n; ++i) {
    const Entry e(Distance(metric, base + i * dim, query, dim), static_cast<uint32_t>(i));
    if (top.size() < k) {
      top.push(e);
    } else if (e < top.top()) {
      top.pop();
      top.push(e);
    }
  }
  std::vector<uint32_t> out(top.size());
  for (size_t i = out.size(); i-- > 0; top.pop()) out[i] = top.top().second;
  return out;
}

}  // namespace

std::vector<float> Normalized(const std::vector<float>& rows, uint32_t dim) {
  std::vector<float> out(rows);
  for (size_t at = 0; at + dim <= out.size(); at += dim) {
    double s = 0;
    for (uint32_t d = 0; d < dim; ++d) s += double{out[at + d]} * out[at + d];
    if (s <= 0) continue;
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (uint32_t d = 0; d < dim; ++d) out[at + d] *= inv;
  }
  return out;
}

std::vector<std::vector<uint32_t>> ExactNeighbors(v1::Metric metric, const float* base, uint64_t n,
                                                  uint32_t dim, const float* queries, uint32_t nq,
                                                  uint32_t k, int threads) {
  std::vector<std::vector<uint32_t>> out(nq);
  std::atomic<uint32_t> next{0};
  auto work = [&] {
    for (uint32_t q = next++; q < nq; q = next++) {
      out[q] = OneQuery(metric, base, n, dim, queries + size_t{q} * dim, k);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

double RecallAtK(const std::vector<std::vector<uint32_t>>& got,
                 const std::vector<std::vector<uint32_t>>& truth) {
  double sum = 0;
  const size_t nq = std::min(got.size(), truth.size());
  for (size_t q = 0; q < nq; ++q) {
    size_t hits = 0;
    for (uint32_t id : got[q]) {
      hits += std::find(truth[q].begin(), truth[q].end(), id) != truth[q].end();
    }
    sum += truth[q].empty() ? 1.0 : static_cast<double>(hits) / truth[q].size();
  }
  return nq == 0 ? 0 : sum / nq;
}

}  // namespace latentsearch::bench

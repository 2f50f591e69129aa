// ExactSearch against a naive double-precision brute force: every metric,
// dims {1, 3, 10, 64, 256}, k {1, 10, 100, > n}, filters (none, 50 %, 1 %),
// batches {1, 7, 1000}, threads {1, 2}; exact ties (duplicate and
// integer-valued vectors) resolved by slot; results identical across batch
// sizes, thread counts and ISAs' own paths.
#include "common/index/exact.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/index/bitset.h"
#include "common/index/kernels.h"
#include "common/index/metric.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;

struct RefHit {
  double distance;
  uint32_t slot;
};

// Every allowed row of `base` for one query, sorted by (distance, slot).
std::vector<RefHit> BruteForce(Metric metric, const std::vector<float>& base, size_t dim,
                               const float* q, const Bitset* allowed) {
  const size_t n = base.size() / dim;
  std::vector<RefHit> all;
  for (size_t i = 0; i < n; ++i) {
    if (allowed != nullptr && !allowed->Test(i)) continue;
    all.push_back(
        {ReferenceDistance(metric, q, base.data() + i * dim, dim), static_cast<uint32_t>(i)});
  }
  std::sort(all.begin(), all.end(), [](const RefHit& a, const RefHit& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.slot < b.slot;
  });
  return all;
}

double Tolerance(Metric metric, double ref) {
  // 1e-5 relative; cosine distances live in [0, 2] and are 1 - dot, so their
  // error is relative to 1, not to the (possibly tiny) distance.
  return metric == Metric::kCosine ? 1e-5 * std::max(1.0, std::fabs(ref))
                                   : 1e-5 * std::fabs(ref) + 1e-6;
}

// `got` must be the first min(k, |ref|) entries of `ref` up to near-ties:
// same distances (to the tolerance), and where ids differ, the reference
// distance of our id must tie with the expected one. Also: sorted, unique,
// allowed.
void ExpectMatchesReference(Metric metric, const std::vector<Neighbor>& got,
                            const std::vector<RefHit>& ref, size_t k, const std::string& where) {
  ASSERT_EQ(got.size(), std::min(k, ref.size())) << where;
  // Reference distance by slot (NaN: not allowed). Only slots up to the
  // largest one in `ref` can be looked up.
  uint32_t max_slot = 0;
  for (const RefHit& h : ref) max_slot = std::max(max_slot, h.slot);
  std::vector<double> ref_dist(size_t{max_slot} + 1, std::nan(""));
  for (const RefHit& h : ref) ref_dist[h.slot] = h.distance;
  std::vector<uint32_t> seen;
  for (size_t i = 0; i < got.size(); ++i) {
    const double want = ref[i].distance;
    ASSERT_NEAR(got[i].distance, want, Tolerance(metric, want)) << where << " rank " << i;
    ASSERT_TRUE(got[i].slot < ref_dist.size() && !std::isnan(ref_dist[got[i].slot]))
        << where << ": slot " << got[i].slot << " is not allowed";
    if (got[i].slot != ref[i].slot) {
      ASSERT_NEAR(ref_dist[got[i].slot], want, 2 * Tolerance(metric, want))
          << where << " rank " << i << ": slot " << got[i].slot << " vs " << ref[i].slot
          << " is not a near-tie";
    }
    if (i > 0) {
      ASSERT_TRUE(got[i - 1].distance < got[i].distance ||
                  (got[i - 1].distance == got[i].distance && got[i - 1].slot < got[i].slot))
          << where << " rank " << i << " out of order";
    }
    seen.push_back(got[i].slot);
  }
  std::sort(seen.begin(), seen.end());
  ASSERT_TRUE(std::adjacent_find(seen.begin(), seen.end()) == seen.end())
      << where << ": duplicate slot";
}

std::vector<float> RandomRows(std::mt19937& rng, size_t n, size_t dim) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n * dim);
  for (float& x : v) x = u(rng);
  return v;
}

enum class Filter { kNone, kHalf, kOnePercent };

Bitset MakeFilter(Filter f, size_t n, std::mt19937& rng) {
  Bitset b(n, f == Filter::kNone);
  if (f == Filter::kNone) return b;
  const double p = f == Filter::kHalf ? 0.5 : 0.01;
  std::bernoulli_distribution keep(p);
  for (size_t i = 0; i < n; ++i) {
    if (keep(rng)) b.Set(i);
  }
  return b;
}

constexpr size_t kRows = 1500;
constexpr size_t kQueries = 1000;

class ExactVsBruteForceTest : public ::testing::TestWithParam<std::tuple<Metric, size_t, Filter>> {
};

TEST_P(ExactVsBruteForceTest, EqualsBruteForceForAllKBatchesAndThreads) {
  const auto [metric, dim, filter] = GetParam();
  std::mt19937 rng(
      static_cast<unsigned>(dim * 31 + static_cast<int>(metric) * 7 + static_cast<int>(filter)));
  std::vector<float> base = RandomRows(rng, kRows, dim);
  std::vector<float> queries = RandomRows(rng, kQueries, dim);
  // Duplicates: every 10th row repeats an earlier one (exact ties).
  for (size_t i = 10; i < kRows; i += 10) {
    std::copy_n(base.begin() + (i / 3) * dim, dim, base.begin() + i * dim);
  }
  // Some queries equal a base row (distance 0, ties with its duplicates).
  for (size_t q = 0; q < kQueries; q += 5) {
    std::copy_n(base.begin() + (q % kRows) * dim, dim, queries.begin() + q * dim);
  }
  if (metric == Metric::kCosine) {
    NormalizeRows(base.data(), kRows, dim);
    NormalizeRows(queries.data(), kQueries, dim);
  }
  const Bitset allowed = MakeFilter(filter, kRows, rng);
  const Bitset* allowed_ptr = filter == Filter::kNone ? nullptr : &allowed;

  std::vector<std::vector<RefHit>> ref(kQueries);
  for (size_t q = 0; q < kQueries; ++q) {
    ref[q] = BruteForce(metric, base, dim, queries.data() + q * dim, allowed_ptr);
  }

  for (size_t k : {size_t{1}, size_t{10}, size_t{100}, kRows + 5}) {
    // Results of query q from the batch of 1000 with 1 thread; every other
    // batch size / thread count must reproduce them exactly.
    std::vector<std::vector<Neighbor>> canonical;
    for (int threads : {1, 2}) {
      for (size_t batch : {size_t{1000}, size_t{7}, size_t{1}}) {
        ExactSearchOptions options;
        options.k = k;
        options.allowed = allowed_ptr;
        options.num_threads = threads;
        const std::string where = absl::StrCat(MetricName(metric), " dim ", dim, " k ", k,
                                               " batch ", batch, " threads ", threads);
        // Batches of 1 and 7 cover a spread of queries.
        const size_t step = batch == 1000 ? 0 : 97;
        for (size_t start = 0; start + batch <= kQueries;
             start += (step == 0 ? kQueries : step * batch)) {
          std::vector<std::vector<Neighbor>> got;
          ASSERT_THAT(ExactSearch(metric, base.data(), kRows, dim, queries.data() + start * dim,
                                  batch, options, &got),
                      IsOk());
          ASSERT_EQ(got.size(), batch);
          for (size_t i = 0; i < batch; ++i) {
            const size_t q = start + i;
            ExpectMatchesReference(metric, got[i], ref[q], k, absl::StrCat(where, " query ", q));
            if (canonical.empty()) continue;
            ASSERT_EQ(got[i], canonical[q])
                << where << " query " << q << " differs from batch 1000 / 1 thread";
          }
          if (canonical.empty()) canonical = std::move(got);
        }
      }
    }
  }
}

std::string ParamName(const ::testing::TestParamInfo<std::tuple<Metric, size_t, Filter>>& info) {
  const auto [metric, dim, filter] = info.param;
  const char* f = filter == Filter::kNone ? "all" : filter == Filter::kHalf ? "half" : "onepercent";
  return absl::StrCat(MetricName(metric), "_d", dim, "_", f);
}

INSTANTIATE_TEST_SUITE_P(
    AllMetrics, ExactVsBruteForceTest,
    ::testing::Combine(::testing::Values(Metric::kL1, Metric::kL2, Metric::kCosine),
                       ::testing::Values(size_t{1}, size_t{3}, size_t{10}, size_t{64}, size_t{256}),
                       ::testing::Values(Filter::kNone, Filter::kHalf, Filter::kOnePercent)),
    ParamName);

// Integer-valued vectors: every distance is exact in float, so the result
// must equal the reference exactly, ties (many) in slot order.
TEST(ExactTiesTest, IntegerVectorsGiveExactTiesInSlotOrder) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> coord(-2, 2);
  for (size_t dim : {1, 3, 10, 64}) {
    const size_t n = 3000, nq = 40;
    std::vector<float> base(n * dim), queries(nq * dim);
    for (float& x : base) x = static_cast<float>(coord(rng));
    for (float& x : queries) x = static_cast<float>(coord(rng));
    for (Metric metric : {Metric::kL1, Metric::kL2}) {
      for (size_t batch : {size_t{1}, nq}) {
        for (int threads : {1, 2}) {
          ExactSearchOptions options;
          options.k = 50;
          options.num_threads = threads;
          for (size_t start = 0; start < nq; start += batch) {
            std::vector<std::vector<Neighbor>> got;
            ASSERT_THAT(ExactSearch(metric, base.data(), n, dim, queries.data() + start * dim,
                                    batch, options, &got),
                        IsOk());
            for (size_t i = 0; i < batch; ++i) {
              std::vector<RefHit> ref =
                  BruteForce(metric, base, dim, queries.data() + (start + i) * dim, nullptr);
              ASSERT_EQ(got[i].size(), 50u);
              for (size_t r = 0; r < 50; ++r) {
                ASSERT_EQ(got[i][r].slot, ref[r].slot)
                    << MetricName(metric) << " dim " << dim << " rank " << r;
                ASSERT_EQ(got[i][r].distance, static_cast<float>(ref[r].distance));
              }
            }
          }
        }
      }
    }
  }
}

// Cosine on one-hot rows (±e_i): dots are exactly -1, 0 or 1.
TEST(ExactTiesTest, CosineOneHotTiesInSlotOrder) {
  const size_t dim = 8, n = 2000;
  std::vector<float> base(n * dim, 0.0f);
  for (size_t i = 0; i < n; ++i) {
    base[i * dim + (i * 7) % dim] = (i % 3 == 0) ? -1.0f : 1.0f;
  }
  std::vector<float> queries(6 * dim, 0.0f);
  for (size_t q = 0; q < 6; ++q) queries[q * dim + q] = 1.0f;
  Bitset allowed(n);
  for (size_t i = 0; i < n; i += 2) allowed.Set(i);
  const Bitset* filters[] = {nullptr, &allowed};
  for (const Bitset* filter : filters) {
    for (size_t batch : {size_t{1}, size_t{6}}) {
      ExactSearchOptions options;
      options.k = 300;
      options.allowed = filter;
      options.num_threads = 2;
      for (size_t start = 0; start < 6; start += batch) {
        std::vector<std::vector<Neighbor>> got;
        ASSERT_THAT(ExactSearch(Metric::kCosine, base.data(), n, dim, queries.data() + start * dim,
                                batch, options, &got),
                    IsOk());
        for (size_t i = 0; i < batch; ++i) {
          std::vector<RefHit> ref =
              BruteForce(Metric::kCosine, base, dim, queries.data() + (start + i) * dim, filter);
          ASSERT_EQ(got[i].size(), 300u);
          for (size_t r = 0; r < 300; ++r) {
            ASSERT_EQ(got[i][r].slot, ref[r].slot) << "rank " << r;
            ASSERT_EQ(got[i][r].distance, static_cast<float>(ref[r].distance));
          }
        }
      }
    }
  }
}

// Vectors far from the origin make ||q||² - 2 q.b + ||b||² (and the L1
// form sum q + sum b - 2 sum min) cancel badly; the GEMM-style path must
// still return the exact neighbours.
TEST(ExactPrecisionTest, LargeCommonOffsetStaysExact) {
  std::mt19937 rng(5);
  const size_t n = 4000, dim = 64, nq = 64;
  std::vector<float> base = RandomRows(rng, n, dim);
  std::vector<float> queries = RandomRows(rng, nq, dim);
  for (float& x : base) x = 1000.0f + 0.01f * x;
  for (float& x : queries) x = 1000.0f + 0.01f * x;
  ExactSearchOptions options;
  options.k = 10;
  options.num_threads = 2;
  for (Metric metric : {Metric::kL2, Metric::kL1}) {
    std::vector<std::vector<Neighbor>> batch, single;
    ASSERT_THAT(ExactSearch(metric, base.data(), n, dim, queries.data(), nq, options, &batch),
                IsOk());
    for (size_t q = 0; q < nq; ++q) {
      std::vector<RefHit> ref = BruteForce(metric, base, dim, queries.data() + q * dim, nullptr);
      ExpectMatchesReference(metric, batch[q], ref, 10,
                             absl::StrCat(MetricName(metric), " query ", q));
      ASSERT_THAT(
          ExactSearch(metric, base.data(), n, dim, queries.data() + q * dim, 1, options, &single),
          IsOk());
      EXPECT_EQ(single[0], batch[q]) << MetricName(metric) << " query " << q;
    }
  }
}

// Big enough for the multi-threaded base split of single queries, several
// blocks per task and every ISA's kernels.
TEST(ExactLargeTest, BaseSplitAndEveryIsaAgree) {
  std::mt19937 rng(9);
  const size_t n = 30000, dim = 40, nq = 12;
  std::vector<float> base = RandomRows(rng, n, dim);
  std::vector<float> queries = RandomRows(rng, nq, dim);
  NormalizeRows(base.data(), n, dim);
  NormalizeRows(queries.data(), nq, dim);
  Bitset allowed(n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 3 != 0) allowed.Set(i);
  }
  for (Metric metric : kAllMetrics) {
    std::vector<std::vector<RefHit>> ref(nq);
    for (size_t q = 0; q < nq; ++q) {
      ref[q] = BruteForce(metric, base, dim, queries.data() + q * dim, &allowed);
    }
    for (internal::Isa isa :
         {internal::Isa::kScalar, internal::Isa::kAvx2, internal::Isa::kAvx512}) {
      if (!internal::SetIsaForTesting(isa)) continue;
      for (size_t batch : {size_t{1}, size_t{5}, nq}) {
        ExactSearchOptions options;
        options.k = 25;
        options.allowed = &allowed;
        options.num_threads = 2;
        for (size_t start = 0; start < nq; start += batch) {
          std::vector<std::vector<Neighbor>> got;
          ASSERT_THAT(ExactSearch(metric, base.data(), n, dim, queries.data() + start * dim,
                                  std::min(batch, nq - start), options, &got),
                      IsOk());
          for (size_t i = 0; i < got.size(); ++i) {
            ExpectMatchesReference(
                metric, got[i], ref[start + i], 25,
                absl::StrCat(MetricName(metric), " isa ", KernelIsa(), " batch ", batch));
          }
        }
      }
    }
    internal::ResetIsaForTesting();
  }
}

TEST(ExactEdgeTest, BadArgumentsAndEmptyInputs) {
  std::vector<float> base(10 * 4, 1.0f), q(4, 0.0f);
  std::vector<std::vector<Neighbor>> out;
  ExactSearchOptions options;
  options.k = 0;
  EXPECT_THAT(ExactSearch(Metric::kL2, base.data(), 10, 4, q.data(), 1, options, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("k")));
  options.k = 3;
  EXPECT_THAT(ExactSearch(Metric::kL2, base.data(), 10, 0, q.data(), 1, options, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("dim")));
  Bitset small(5, true);
  options.allowed = &small;
  EXPECT_THAT(ExactSearch(Metric::kL2, base.data(), 10, 4, q.data(), 1, options, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("allowed")));
  options.allowed = nullptr;
  // n = 0: every query gets an empty list.
  ASSERT_THAT(ExactSearch(Metric::kL2, base.data(), 0, 4, q.data(), 1, options, &out), IsOk());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].empty());
  // Nothing allowed.
  Bitset none(10);
  options.allowed = &none;
  ASSERT_THAT(ExactSearch(Metric::kL2, base.data(), 10, 4, q.data(), 1, options, &out), IsOk());
  EXPECT_TRUE(out[0].empty());
  // nq = 0.
  options.allowed = nullptr;
  ASSERT_THAT(ExactSearch(Metric::kL2, base.data(), 10, 4, q.data(), 0, options, &out), IsOk());
  EXPECT_TRUE(out.empty());
}

TEST(ExactEdgeTest, KLargerThanAllowedReturnsWhatThereIs) {
  std::vector<float> base = {0, 1, 2, 3, 4};  // dim 1
  const float q = 2.2f;
  Bitset allowed(5);
  allowed.Set(0);
  allowed.Set(3);
  allowed.Set(4);
  ExactSearchOptions options;
  options.k = 100;
  options.allowed = &allowed;
  std::vector<std::vector<Neighbor>> out;
  ASSERT_THAT(ExactSearch(Metric::kL1, base.data(), 5, 1, &q, 1, options, &out), IsOk());
  ASSERT_EQ(out[0].size(), 3u);
  EXPECT_EQ(out[0][0].slot, 3u);
  EXPECT_EQ(out[0][1].slot, 4u);
  EXPECT_EQ(out[0][2].slot, 0u);
  EXPECT_FLOAT_EQ(out[0][0].distance, 0.8f);
}

}  // namespace
}  // namespace latentsearch::index

// Concurrency of the core index (run under ThreadSanitizer: label "tsan").
// Many threads search one HnswIndex (different ef, filters) and call
// ExactSearch (sharing the thread pool) at once, while the index is saved;
// every answer must equal the one computed alone. The HNSW build itself
// inserts from several threads, and AddOver grows a graph over a VectorStore
// (appended to meanwhile) while searches and a save run.
#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "common/index/bitset.h"
#include "common/index/exact.h"
#include "common/index/hnsw.h"
#include "common/index/metric.h"
#include "common/index/vector_store.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gtest/gtest.h"
#include "tests/unit/index/synthetic.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::IsOk;

constexpr size_t kN = 2000, kDim = 16, kQueries = 64;

struct Data {
  std::vector<float> base = testing::ClusteredVectors(kN, kDim, 1);
  std::vector<float> queries = testing::ClusteredVectors(kQueries, kDim, 2);
  Bitset half{kN}, sparse{kN};
  Data() {
    for (size_t i = 0; i < kN; i += 2) half.Set(i);
    for (size_t i = 0; i < kN; i += 97) sparse.Set(i);
  }
  const Bitset* Filter(size_t i) const {
    return i % 3 == 0 ? nullptr : i % 3 == 1 ? &half : &sparse;
  }
};

HnswSearchOptions Options(const Data& s, size_t i) {
  HnswSearchOptions o;
  o.k = 5 + i % 7;
  o.ef = 16 + 24 * (i % 5);
  o.allowed = s.Filter(i);
  return o;
}

TEST(IndexConcurrencyTest, ConcurrentHnswSearchesAndSaveMatchSerialResults) {
  Data s;
  std::vector<uint32_t> slots(kN);
  std::iota(slots.begin(), slots.end(), 0u);
  HnswParams params;
  params.ef_construction = 64;
  // Parallel insertion (4 threads on however many cores).
  absl::StatusOr<std::unique_ptr<HnswIndex>> built =
      HnswIndex::Build(Metric::kL2, kDim, s.base.data(), slots.data(), kN, params, 4);
  ASSERT_TRUE(built.ok()) << built.status();
  const HnswIndex& index = **built;

  // Reference answers, one search at a time.
  const size_t kVariants = 15;
  std::vector<HnswResult> want(kQueries * kVariants);
  for (size_t q = 0; q < kQueries; ++q) {
    for (size_t v = 0; v < kVariants; ++v) {
      want[q * kVariants + v] = index.Search(s.queries.data() + q * kDim, Options(s, v));
    }
  }

  ::latentsearch::testing::TempDir dir;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t q = 0; q < kQueries; ++q) {
          const size_t v =
              (q + static_cast<size_t>(t) * 5 + static_cast<size_t>(round)) % kVariants;
          HnswResult r = index.Search(s.queries.data() + q * kDim, Options(s, v));
          const HnswResult& w = want[q * kVariants + v];
          if (r.neighbors != w.neighbors || r.complete != w.complete) ++mismatches;
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 3; ++i) {
      EXPECT_THAT(index.Save(dir.Join("g" + std::to_string(i))), IsOk());
    }
  });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(IndexConcurrencyTest, ConcurrentExactSearchesShareThePool) {
  Data s;
  // Large enough for multi-threaded calls (base and query splits).
  const size_t n = 20000;
  std::vector<float> base = testing::RandomVectors(n, kDim, 3);
  Bitset third(n);
  for (size_t i = 0; i < n; i += 3) third.Set(i);
  struct Call {
    Metric metric;
    size_t nq;
    const Bitset* allowed;
  };
  const Call calls[] = {{Metric::kL2, 1, nullptr},    {Metric::kL1, 64, nullptr},
                        {Metric::kCosine, 7, &third}, {Metric::kL2, 64, &third},
                        {Metric::kL1, 1, &third},     {Metric::kCosine, 32, nullptr}};
  const size_t num_calls = sizeof(calls) / sizeof(calls[0]);
  std::vector<std::vector<std::vector<Neighbor>>> want(num_calls);
  auto run = [&](size_t c, std::vector<std::vector<Neighbor>>* out) {
    ExactSearchOptions o;
    o.k = 10;
    o.allowed = calls[c].allowed;
    o.num_threads = 2;
    return ExactSearch(calls[c].metric, base.data(), n, kDim, s.queries.data(), calls[c].nq, o,
                       out);
  };
  for (size_t c = 0; c < num_calls; ++c) ASSERT_THAT(run(c, &want[c]), IsOk());

  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < 2 * num_calls; ++i) {
        const size_t c = (i + static_cast<size_t>(t)) % num_calls;
        std::vector<std::vector<Neighbor>> got;
        if (!run(c, &got).ok() || got != want[c]) ++mismatches;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// The Collection's growth scheme: rows are appended to the store while a
// graph over its first rows serves; AddOver inserts them (several threads,
// kAddBatchRows at a time under the index's writer lock) while four threads
// search (filtered and not) and one saves. Every answer is well formed
// (slots that exist, closest first); every search sees the graph grow,
// never shrink; afterwards the grown graph finds the new rows.
TEST(IndexConcurrencyTest, AddOverRunsBesideSearchesAndSaves) {
  constexpr size_t kFirst = 1000, kAll = 3000;
  const std::vector<float> data = testing::ClusteredVectors(kAll, kDim, 9);
  VectorStore store;
  ASSERT_THAT(store.Init(kDim, uint64_t{1} << 26), IsOk());
  ASSERT_THAT(store.Append(data.data(), kFirst), IsOk());
  std::vector<uint32_t> slots(kAll);
  std::iota(slots.begin(), slots.end(), 0u);
  HnswParams params;
  params.ef_construction = 64;
  for (Metric m : {Metric::kL2, Metric::kCosine}) {
    SCOPED_TRACE(MetricName(m));
    absl::StatusOr<std::unique_ptr<HnswIndex>> built = HnswIndex::BuildOver(
        m, kDim, RowSource{store.data(), store.size()}, slots.data(), kFirst, params, 2);
    ASSERT_TRUE(built.ok()) << built.status();
    HnswIndex& index = **built;
    if (store.size() < kAll)
      ASSERT_THAT(store.Append(data.data() + kFirst * kDim, kAll - kFirst), IsOk());
    Bitset half(kAll);
    for (size_t i = 0; i < kAll; i += 2) half.Set(i);
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    ::latentsearch::testing::TempDir dir;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        size_t last = 0;
        for (size_t i = static_cast<size_t>(t); !done.load() || i % 50 != 0; ++i) {
          std::vector<float> q(data.begin() + (i % kAll) * kDim,
                               data.begin() + (i % kAll + 1) * kDim);
          if (m == Metric::kCosine) NormalizeRows(q.data(), 1, kDim);
          HnswSearchOptions o;
          o.k = 5;
          o.allowed = t % 2 == 0 ? nullptr : &half;
          const size_t size = index.size();
          if (size < last) ++bad;
          last = size;
          HnswResult r = index.Search(q.data(), o);
          for (size_t j = 0; j < r.neighbors.size(); ++j) {
            if (r.neighbors[j].slot >= kAll) ++bad;
            if (j > 0 && r.neighbors[j].distance < r.neighbors[j - 1].distance) ++bad;
          }
        }
      });
    }
    threads.emplace_back([&] { EXPECT_THAT(index.Save(dir.Join("during")), IsOk()); });
    EXPECT_THAT(index.AddOver(RowSource{store.data(), store.size()}, slots.data() + kFirst,
                              kAll - kFirst, 7, 2),
                IsOk());
    done = true;
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(index.size(), kAll);
    size_t found = 0;
    for (size_t i = kFirst; i < kAll; i += 5) {
      std::vector<float> q(data.begin() + i * kDim, data.begin() + (i + 1) * kDim);
      if (m == Metric::kCosine) NormalizeRows(q.data(), 1, kDim);
      HnswSearchOptions o;
      o.k = 1;
      HnswResult r = index.Search(q.data(), o);
      found += !r.neighbors.empty() && r.neighbors[0].slot == i;
    }
    EXPECT_GE(found, (kAll - kFirst) / 5 * 98 / 100);
  }
}

}  // namespace
}  // namespace latentsearch::index

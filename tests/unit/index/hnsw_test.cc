// HnswIndex: recall against ExactSearch (the acceptance point: recall@10 >=
// 0.99 at ef = 128 on 50,000 x 64 clustered data, for L1, L2 and cosine),
// filtered search, save / load round trips and corrupt files.
#include "common/index/hnsw.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/index/bitset.h"
#include "common/index/exact.h"
#include "common/index/kernels.h"
#include "common/index/metric.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/index/synthetic.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::vector<uint32_t> AllSlots(size_t n) {
  std::vector<uint32_t> s(n);
  std::iota(s.begin(), s.end(), 0u);
  return s;
}

// Plain write (no fsync: these files are scratch).
void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

double Recall(const std::vector<Neighbor>& got, const std::vector<Neighbor>& truth) {
  if (truth.empty()) return 1.0;
  size_t hit = 0;
  for (const Neighbor& t : truth) {
    for (const Neighbor& g : got) {
      if (g.slot == t.slot) {
        ++hit;
        break;
      }
    }
  }
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

// --- The acceptance point: 50,000 x 64 clustered, one graph per metric. ---

constexpr size_t kN = 50000, kDim = 64, kQueries = 200, kK = 10;

struct Fixture {
  std::vector<float> base, queries;
  std::unique_ptr<HnswIndex> index;
  std::vector<std::vector<Neighbor>> truth;
};

// Built once per metric for the whole binary (2 threads; the build is the
// expensive part).
const Fixture& Shared(Metric metric) {
  static Fixture* fixtures[3] = {nullptr, nullptr, nullptr};
  Fixture*& f = fixtures[static_cast<int>(metric)];
  if (f != nullptr) return *f;
  f = new Fixture;
  f->base = testing::ClusteredVectors(kN, kDim, 1);
  f->queries = testing::ClusteredVectors(kQueries, kDim, 2);
  if (metric == Metric::kCosine) {
    NormalizeRows(f->base.data(), kN, kDim);
    NormalizeRows(f->queries.data(), kQueries, kDim);
  }
  std::vector<uint32_t> slots = AllSlots(kN);
  absl::StatusOr<std::unique_ptr<HnswIndex>> index =
      HnswIndex::Build(metric, kDim, f->base.data(), slots.data(), kN, HnswParams{}, 2);
  EXPECT_TRUE(index.ok()) << index.status();
  if (index.ok()) f->index = std::move(*index);
  ExactSearchOptions eopts;
  eopts.k = kK;
  eopts.num_threads = 2;
  EXPECT_THAT(
      ExactSearch(metric, f->base.data(), kN, kDim, f->queries.data(), kQueries, eopts, &f->truth),
      IsOk());
  return *f;
}

void CheckRecall(Metric metric, const Fixture& f) {
  EXPECT_EQ(f.index->size(), kN);
  EXPECT_EQ(f.index->dim(), kDim);
  EXPECT_EQ(f.index->metric(), metric);
  EXPECT_GT(f.index->memory_bytes(), kN * kDim * sizeof(float));
  double recall = 0, recall_ef16 = 0;
  HnswSearchOptions options;
  options.k = kK;
  for (size_t q = 0; q < kQueries; ++q) {
    options.ef = 128;
    HnswResult r = f.index->Search(f.queries.data() + q * kDim, options);
    EXPECT_TRUE(r.complete);
    ASSERT_EQ(r.neighbors.size(), kK);
    for (size_t i = 1; i < r.neighbors.size(); ++i) {
      ASSERT_LE(r.neighbors[i - 1].distance, r.neighbors[i].distance);
    }
    // Distances are the user-facing ones, same kernels as the exact index.
    for (const Neighbor& nb : r.neighbors) {
      const float want = ScoreToDistance(
          metric,
          Score(metric, f.queries.data() + q * kDim, f.base.data() + size_t{nb.slot} * kDim, kDim));
      ASSERT_EQ(nb.distance, want);
    }
    recall += Recall(r.neighbors, f.truth[q]);
    options.ef = 16;
    recall_ef16 +=
        Recall(f.index->Search(f.queries.data() + q * kDim, options).neighbors, f.truth[q]);
  }
  recall /= kQueries;
  recall_ef16 /= kQueries;
  ::testing::Test::RecordProperty("recall_at_10_ef128", absl::StrCat(recall));
  std::cout << MetricName(metric) << ": recall@10 " << recall << " at ef 128, " << recall_ef16
            << " at ef 16\n";
  EXPECT_GE(recall, 0.99) << MetricName(metric);
  // ef is per search: a smaller one gives (usually) lower recall, and never
  // changes what the next search sees.
  EXPECT_LE(recall_ef16, recall + 1e-9);
}

void CheckFiltered(Metric metric, const Fixture& f) {
  std::mt19937 rng(77);
  for (double fraction : {0.5, 0.2, 0.05, 0.01, 0.0005}) {
    Bitset allowed(kN);
    std::bernoulli_distribution keep(fraction);
    for (size_t i = 0; i < kN; ++i) {
      if (keep(rng)) allowed.Set(i);
    }
    ExactSearchOptions eopts;
    eopts.k = kK;
    eopts.allowed = &allowed;
    eopts.num_threads = 2;
    const size_t nq = 50;
    std::vector<std::vector<Neighbor>> truth;
    ASSERT_THAT(ExactSearch(metric, f.base.data(), kN, kDim, f.queries.data(), nq, eopts, &truth),
                IsOk());
    double recall = 0;
    size_t incomplete = 0, scans = 0, computations = 0;
    for (size_t q = 0; q < nq; ++q) {
      HnswSearchOptions options;
      options.k = kK;
      options.ef = 128;
      options.allowed = &allowed;
      HnswResult r = f.index->Search(f.queries.data() + q * kDim, options);
      for (const Neighbor& nb : r.neighbors) {
        ASSERT_TRUE(allowed.Test(nb.slot)) << "slot " << nb.slot << " is filtered out";
      }
      computations += r.distance_computations;
      scans += r.exact_scan ? 1 : 0;
      if (!r.complete) {
        ++incomplete;
        continue;
      }
      if (r.exact_scan) {
        // Exact for the allowed rows: the same answer as ExactSearch.
        ASSERT_EQ(r.neighbors, truth[q]) << "fraction " << fraction << " query " << q;
      }
      ASSERT_EQ(r.neighbors.size(), std::min(kK, allowed.Count()));
      recall += Recall(r.neighbors, truth[q]);
    }
    const size_t complete = nq - incomplete;
    if (complete > 0) recall /= static_cast<double>(complete);
    std::cout << MetricName(metric) << " filter " << fraction << ": recall " << recall
              << ", exact scans " << scans << "/" << nq << ", incomplete " << incomplete
              << ", distances/query " << computations / nq << "\n";
    EXPECT_GE(recall, 0.98) << "fraction " << fraction;
    if (fraction >= 0.2) {
      EXPECT_EQ(incomplete, 0u) << "fraction " << fraction;
    }
  }
}

// One test per metric (ctest runs each test in its own process, so this
// builds each 50,000-row graph once).
class HnswRecallTest : public ::testing::TestWithParam<Metric> {};

TEST_P(HnswRecallTest, RecallAndFilteredSearchOn50kClustered) {
  const Fixture& f = Shared(GetParam());
  ASSERT_NE(f.index, nullptr);
  {
    SCOPED_TRACE("recall");
    CheckRecall(GetParam(), f);
  }
  {
    SCOPED_TRACE("filtered");
    CheckFiltered(GetParam(), f);
  }
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, HnswRecallTest,
                         ::testing::Values(Metric::kL1, Metric::kL2, Metric::kCosine),
                         [](const ::testing::TestParamInfo<Metric>& info) {
                           return std::string(MetricName(info.param));
                         });

// --- Smaller graphs: persistence, subsets, edge cases. ---

struct Small {
  size_t n = 3000, dim = 24;
  std::vector<float> base = testing::RandomVectors(3000, 24, 5);
  std::vector<float> queries = testing::RandomVectors(40, 24, 6);
};

std::unique_ptr<HnswIndex> BuildSmall(const Small& s, Metric metric, int threads = 2) {
  std::vector<uint32_t> slots = AllSlots(s.n);
  HnswParams params;
  params.ef_construction = 100;
  absl::StatusOr<std::unique_ptr<HnswIndex>> index =
      HnswIndex::Build(metric, s.dim, s.base.data(), slots.data(), s.n, params, threads);
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? std::move(*index) : nullptr;
}

TEST(HnswPersistenceTest, SaveLoadRoundTripGivesIdenticalResults) {
  Small s;
  TempDir dir;
  for (Metric metric : kAllMetrics) {
    std::unique_ptr<HnswIndex> index = BuildSmall(s, metric);
    ASSERT_NE(index, nullptr);
    const std::string path = dir.Join(absl::StrCat("g_", MetricName(metric), ".hnsw"));
    ASSERT_THAT(index->Save(path), IsOk());
    absl::StatusOr<std::unique_ptr<HnswIndex>> loaded = HnswIndex::Load(path, metric, s.dim);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->size(), s.n);
    EXPECT_EQ((*loaded)->dim(), s.dim);
    EXPECT_EQ((*loaded)->metric(), metric);
    Bitset half(s.n);
    for (size_t i = 0; i < s.n; i += 2) half.Set(i);
    for (size_t q = 0; q < 40; ++q) {
      for (const Bitset* filter :
           {static_cast<const Bitset*>(nullptr), static_cast<const Bitset*>(&half)}) {
        HnswSearchOptions options;
        options.k = 7;
        options.ef = 40;
        options.allowed = filter;
        HnswResult a = index->Search(s.queries.data() + q * s.dim, options);
        HnswResult b = (*loaded)->Search(s.queries.data() + q * s.dim, options);
        ASSERT_EQ(a.neighbors, b.neighbors) << MetricName(metric) << " query " << q;
        ASSERT_EQ(a.complete, b.complete);
      }
    }
    // A saved-then-loaded index saves to the same bytes.
    const std::string again = path + ".again";
    ASSERT_THAT((*loaded)->Save(again), IsOk());
    absl::StatusOr<std::string> b1 = base::ReadFile(path), b2 = base::ReadFile(again);
    ASSERT_TRUE(b1.ok() && b2.ok());
    EXPECT_EQ(*b1, *b2);
  }
}

TEST(HnswPersistenceTest, TruncatedFilesAreDataLossNamingThePath) {
  Small s;
  TempDir dir;
  std::unique_ptr<HnswIndex> index = BuildSmall(s, Metric::kL2);
  ASSERT_NE(index, nullptr);
  const std::string path = dir.Join("full.hnsw");
  ASSERT_THAT(index->Save(path), IsOk());
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  const size_t size = bytes->size();
  for (size_t cut : {size_t{0}, size_t{10}, size_t{95}, size_t{96}, size_t{5000}, size / 2,
                     size - 100, size - 1}) {
    const std::string t = dir.Join(absl::StrCat("cut", cut, ".hnsw"));
    WriteRaw(t, bytes->substr(0, cut));
    EXPECT_THAT(HnswIndex::Load(t, Metric::kL2, s.dim),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(t)))
        << "cut at " << cut << " of " << size;
  }
  // Trailing garbage, and a missing file.
  const std::string longer = dir.Join("longer.hnsw");
  WriteRaw(longer, *bytes + "xyz");
  EXPECT_THAT(HnswIndex::Load(longer, Metric::kL2, s.dim),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("trailing")));
  EXPECT_THAT(HnswIndex::Load(dir.Join("missing.hnsw"), Metric::kL2, s.dim),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("missing.hnsw")));
}

TEST(HnswPersistenceTest, WrongDimIsDataLoss) {
  Small s;
  TempDir dir;
  std::unique_ptr<HnswIndex> index = BuildSmall(s, Metric::kL1);
  ASSERT_NE(index, nullptr);
  const std::string path = dir.Join("g.hnsw");
  ASSERT_THAT(index->Save(path), IsOk());
  EXPECT_THAT(
      HnswIndex::Load(path, Metric::kL1, s.dim + 1),
      StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr(path), HasSubstr("dimension mismatch"),
                                                  HasSubstr("24 floats, expected 25"))));
  EXPECT_THAT(HnswIndex::Load(path, Metric::kL1, 8),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("dimension mismatch")));
}

// Random byte corruption: Load either reports DATA_LOSS or yields an index
// whose searches stay inside the graph (never a crash; ASan / the sanitizer
// builds make out-of-bounds reads visible).
TEST(HnswPersistenceTest, CorruptBytesNeverCrash) {
  Small s;
  s.n = 500;
  s.base.resize(s.n * s.dim);
  TempDir dir;
  std::unique_ptr<HnswIndex> index = BuildSmall(s, Metric::kL2);
  ASSERT_NE(index, nullptr);
  const std::string path = dir.Join("g.hnsw");
  ASSERT_THAT(index->Save(path), IsOk());
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  std::mt19937 rng(3);
  std::uniform_int_distribution<size_t> where(0, bytes->size() - 1);
  std::uniform_int_distribution<int> value(0, 255);
  size_t rejected = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string corrupt = *bytes;
    const int flips = 1 + trial % 4;
    for (int i = 0; i < flips; ++i) corrupt[where(rng)] = static_cast<char>(value(rng));
    // Hit the header and the link lists more often than the vectors.
    if (trial % 3 == 0) corrupt[where(rng) % 96] = static_cast<char>(value(rng));
    const std::string t = dir.Join("corrupt.hnsw");
    WriteRaw(t, corrupt);
    absl::StatusOr<std::unique_ptr<HnswIndex>> loaded = HnswIndex::Load(t, Metric::kL2, s.dim);
    if (!loaded.ok()) {
      EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
      ++rejected;
      continue;
    }
    HnswSearchOptions options;
    options.k = 5;
    options.ef = 20;
    HnswResult r = (*loaded)->Search(s.queries.data(), options);
    EXPECT_LE(r.neighbors.size(), 5u);
  }
  EXPECT_GT(rejected, 0u);
}

TEST(HnswBuildTest, SubsetOfSlotsIsLabelledBySlot) {
  Small s;
  std::vector<uint32_t> slots;
  for (uint32_t i = 1; i < s.n; i += 3) slots.push_back(i);
  absl::StatusOr<std::unique_ptr<HnswIndex>> index = HnswIndex::Build(
      Metric::kL2, s.dim, s.base.data(), slots.data(), slots.size(), HnswParams{}, 2);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->size(), slots.size());
  // The exact answer over the same rows.
  Bitset in_graph(s.n);
  for (uint32_t slot : slots) in_graph.Set(slot);
  for (size_t q = 0; q < 20; ++q) {
    HnswSearchOptions options;
    options.k = 10;
    options.ef = 200;
    HnswResult r = (*index)->Search(s.queries.data() + q * s.dim, options);
    ExactSearchOptions eopts;
    eopts.k = 10;
    eopts.allowed = &in_graph;
    std::vector<std::vector<Neighbor>> truth;
    ASSERT_THAT(ExactSearch(Metric::kL2, s.base.data(), s.n, s.dim, s.queries.data() + q * s.dim, 1,
                            eopts, &truth),
                IsOk());
    for (const Neighbor& nb : r.neighbors) ASSERT_EQ(nb.slot % 3, 1u);
    EXPECT_GE(Recall(r.neighbors, truth[0]), 0.9);
    // A filter that allows everything in the graph changes nothing.
    Bitset everything(s.n, true);
    options.allowed = &everything;
    EXPECT_EQ((*index)->Search(s.queries.data() + q * s.dim, options).neighbors, r.neighbors);
  }
}

// A graph over a few slots of a huge range keeps its slot map sparse.
TEST(HnswBuildTest, SparseSlotsAcrossAHugeRange) {
  const size_t dim = 2, n = 2000000;
  std::vector<float> base(n * dim);
  std::vector<uint32_t> slots;
  for (uint32_t i = 0; i < 40; ++i) {
    const uint32_t slot = i * 49999 + 7;
    slots.push_back(slot);
    base[size_t{slot} * dim] = static_cast<float>(i);
    base[size_t{slot} * dim + 1] = 1.0f;
  }
  absl::StatusOr<std::unique_ptr<HnswIndex>> index =
      HnswIndex::Build(Metric::kL1, dim, base.data(), slots.data(), slots.size(), HnswParams{}, 1);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_LT((*index)->memory_bytes(), size_t{4} << 20);
  const float q[2] = {10.2f, 1.0f};
  HnswSearchOptions options;
  options.k = 3;
  HnswResult r = (*index)->Search(q, options);
  ASSERT_EQ(r.neighbors.size(), 3u);
  EXPECT_EQ(r.neighbors[0].slot, slots[10]);
  EXPECT_EQ(r.neighbors[1].slot, slots[11]);
  EXPECT_EQ(r.neighbors[2].slot, slots[9]);
  Bitset allowed(n);
  allowed.Set(slots[3]);
  allowed.Set(slots[30]);
  options.allowed = &allowed;
  r = (*index)->Search(q, options);
  ASSERT_EQ(r.neighbors.size(), 2u);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.neighbors[0].slot, slots[3]);
  EXPECT_EQ(r.neighbors[1].slot, slots[30]);
}

TEST(HnswBuildTest, SingleThreadedBuildIsDeterministic) {
  Small s;
  s.n = 800;
  std::unique_ptr<HnswIndex> a = BuildSmall(s, Metric::kCosine, 1);
  std::unique_ptr<HnswIndex> b = BuildSmall(s, Metric::kCosine, 1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  TempDir dir;
  ASSERT_THAT(a->Save(dir.Join("a")), IsOk());
  ASSERT_THAT(b->Save(dir.Join("b")), IsOk());
  EXPECT_EQ(*base::ReadFile(dir.Join("a")), *base::ReadFile(dir.Join("b")));
}

TEST(HnswBuildTest, WorksWithEveryIsa) {
  Small s;
  s.n = 1000;
  for (internal::Isa isa : {internal::Isa::kScalar, internal::Isa::kAvx2, internal::Isa::kAvx512}) {
    if (!internal::SetIsaForTesting(isa)) continue;
    for (Metric metric : kAllMetrics) {
      std::unique_ptr<HnswIndex> index = BuildSmall(s, metric);
      ASSERT_NE(index, nullptr);
      ExactSearchOptions eopts;
      eopts.k = 10;
      std::vector<std::vector<Neighbor>> truth;
      ASSERT_THAT(
          ExactSearch(metric, s.base.data(), s.n, s.dim, s.queries.data(), 10, eopts, &truth),
          IsOk());
      double recall = 0;
      for (size_t q = 0; q < 10; ++q) {
        HnswSearchOptions options;
        options.k = 10;
        options.ef = 100;
        recall += Recall(index->Search(s.queries.data() + q * s.dim, options).neighbors, truth[q]);
      }
      EXPECT_GE(recall / 10, 0.95) << KernelIsa() << " " << MetricName(metric);
    }
  }
  internal::ResetIsaForTesting();
}

TEST(HnswBuildTest, BadParametersAreInvalidArgument) {
  Small s;
  std::vector<uint32_t> slots = AllSlots(10);
  HnswParams p;
  p.m = 1;
  EXPECT_THAT(HnswIndex::Build(Metric::kL2, s.dim, s.base.data(), slots.data(), 10, p),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2..128")));
  p.m = 16;
  p.ef_construction = 0;
  EXPECT_THAT(HnswIndex::Build(Metric::kL2, s.dim, s.base.data(), slots.data(), 10, p),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ef_construction")));
  EXPECT_THAT(HnswIndex::Build(Metric::kL2, 0, s.base.data(), slots.data(), 10, HnswParams{}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dim")));
}

TEST(HnswBuildTest, EmptyAndTinyIndexes) {
  TempDir dir;
  std::vector<float> rows(43 * 3, 9.0f);
  const float* one = rows.data() + 42 * 3;
  rows[42 * 3] = 1;
  rows[42 * 3 + 1] = 2;
  rows[42 * 3 + 2] = 3;
  const uint32_t slot = 42;
  absl::StatusOr<std::unique_ptr<HnswIndex>> empty =
      HnswIndex::Build(Metric::kL2, 3, nullptr, nullptr, 0, HnswParams{});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ((*empty)->size(), 0u);
  HnswSearchOptions options;
  EXPECT_TRUE((*empty)->Search(one, options).neighbors.empty());
  ASSERT_THAT((*empty)->Save(dir.Join("empty")), IsOk());
  absl::StatusOr<std::unique_ptr<HnswIndex>> loaded =
      HnswIndex::Load(dir.Join("empty"), Metric::kL2, 3);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->size(), 0u);

  absl::StatusOr<std::unique_ptr<HnswIndex>> single =
      HnswIndex::Build(Metric::kL2, 3, rows.data(), &slot, 1, HnswParams{});
  ASSERT_TRUE(single.ok());
  HnswResult r = (*single)->Search(one, options);
  ASSERT_EQ(r.neighbors.size(), 1u);
  EXPECT_EQ(r.neighbors[0].slot, 42u);
  EXPECT_EQ(r.neighbors[0].distance, 0.0f);
  Bitset none(43);
  options.allowed = &none;
  r = (*single)->Search(one, options);
  EXPECT_TRUE(r.neighbors.empty());
  EXPECT_TRUE(r.complete);
}

}  // namespace
}  // namespace latentsearch::index

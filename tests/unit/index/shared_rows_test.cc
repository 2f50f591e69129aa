// Graphs that read a collection's vectors in place (HnswIndex::BuildOver /
// LoadOver / AddOver over a VectorStore) and cosine scored on raw vectors
// with their inverse norms (ExactSearchOptions::row_scale): they must answer
// as the copying graphs and the normalised exact scan do, survive a save and
// load, refuse files they cannot use, and take inserts while searches run.
#include <sys/mman.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/base/huge_pages.h"
#include "common/index/exact.h"
#include "common/index/hnsw.h"
#include "common/index/metric.h"
#include "common/index/vector_store.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/index/synthetic.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kN = 3000, kDim = 24;

std::vector<uint32_t> Iota(size_t n) {
  std::vector<uint32_t> s(n);
  std::iota(s.begin(), s.end(), 0u);
  return s;
}

TEST(VectorStoreTest, RowsKeepTheirAddressesAndValuesAsTheStoreGrows) {
  VectorStore store;
  ASSERT_OK(store.Init(kDim, uint64_t{1} << 30));
  const std::vector<float> data = testing::RandomVectors(100000, kDim, 3);
  ASSERT_OK(store.Append(data.data(), 1));
  const float* first = store.row(0);
  for (size_t i = 1; i < 100000; i += 997) {
    const size_t count = std::min<size_t>(997, 100000 - i);
    ASSERT_OK(store.Append(data.data() + i * kDim, count));
  }
  EXPECT_EQ(store.size(), 100000u);
  EXPECT_EQ(store.row(0), first);  // never moved
  EXPECT_EQ(std::memcmp(store.data(), data.data(), data.size() * sizeof(float)), 0);
}

// Rows start on a huge-page boundary, and all but the first 2 MiB ask for
// huge pages (graph walks read rows at random: one TLB entry per 2 MiB),
// so a small collection keeps 4 KiB pages.
TEST(VectorStoreTest, RowsStartOnAHugePageBoundaryAndOnlyBeyondTheFirstAskForHugePages) {
  VectorStore store;
  ASSERT_OK(store.Init(kDim, uint64_t{1} << 30));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(store.data()) % base::kHugePageBytes, 0u);
  const size_t rows = 3 * base::kHugePageBytes / (kDim * sizeof(float));
  const std::vector<float> data = testing::RandomVectors(rows, kDim, 5);
  ASSERT_OK(store.Append(data.data(), rows));
  EXPECT_EQ(std::memcmp(store.data(), data.data(), data.size() * sizeof(float)), 0);
  void* probe = mmap(nullptr, 4 * base::kHugePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(probe, MAP_FAILED);
  const size_t advised = base::AdviseHugePages(probe, 4 * base::kHugePageBytes);
  munmap(probe, 4 * base::kHugePageBytes);
  if (advised == 0) GTEST_SKIP() << "this kernel refuses MADV_HUGEPAGE";
  const char* at = reinterpret_cast<const char*>(store.data());
  EXPECT_FALSE(latentsearch::testing::MappingHasFlag(at, "hg"));
  EXPECT_TRUE(latentsearch::testing::MappingHasFlag(at + base::kHugePageBytes, "hg"));
  EXPECT_TRUE(latentsearch::testing::MappingHasFlag(at + 2 * base::kHugePageBytes, "hg"));
}

TEST(VectorStoreTest, AFullReservationRefusesTheWholeAppendAndKeepsWhatItHeld) {
  VectorStore store;
  // 64 MiB is the least the store reserves: room for 64 MiB / 96 B rows.
  ASSERT_OK(store.Init(kDim, 1000 * kDim * sizeof(float)));
  const size_t cap = store.capacity();
  EXPECT_EQ(cap, 1000u);
  const std::vector<float> data = testing::RandomVectors(cap + 1, kDim, 4);
  ASSERT_OK(store.Append(data.data(), cap - 1));
  EXPECT_TRUE(store.HasRoomFor(1));
  EXPECT_FALSE(store.HasRoomFor(2));
  EXPECT_THAT(store.Append(data.data(), 2),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("do not fit")));
  EXPECT_EQ(store.size(), cap - 1);
  ASSERT_OK(store.Append(data.data() + (cap - 1) * kDim, 1));
  EXPECT_EQ(std::memcmp(store.data(), data.data(), cap * kDim * sizeof(float)), 0);
  EXPECT_THAT(VectorStore().Init(0, 1 << 20),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

// Cosine on raw rows with row_scale = the same neighbours as on normalised
// rows, for one query (row path) and for many (lane path), filtered or not.
TEST(RowScaleTest, CosineOnRawRowsMatchesCosineOnNormalisedRows) {
  std::vector<float> base = testing::ClusteredVectors(kN, kDim, 5);
  for (size_t i = 0; i < kN; ++i) {  // rows of very different lengths
    for (size_t j = 0; j < kDim; ++j) base[i * kDim + j] *= 0.01f + static_cast<float>(i % 17);
  }
  std::fill(base.begin() + 7 * kDim, base.begin() + 8 * kDim, 0.0f);  // a zero row
  std::vector<float> normalized = base;
  NormalizeRows(normalized.data(), kN, kDim);
  std::vector<float> scale(kN);
  for (size_t i = 0; i < kN; ++i) scale[i] = InverseNorm(base.data() + i * kDim, kDim);
  EXPECT_EQ(scale[7], 0.0f);
  std::vector<float> queries = testing::ClusteredVectors(40, kDim, 6);
  NormalizeRows(queries.data(), 40, kDim);
  Bitset odd(kN);
  for (size_t i = 1; i < kN; i += 2) odd.Set(i);
  for (size_t nq : {size_t{1}, size_t{40}}) {
    for (const Bitset* allowed :
         {static_cast<const Bitset*>(nullptr), static_cast<const Bitset*>(&odd)}) {
      ExactSearchOptions o;
      o.k = 10;
      o.allowed = allowed;
      std::vector<std::vector<Neighbor>> want, got;
      ASSERT_OK(
          ExactSearch(Metric::kCosine, normalized.data(), kN, kDim, queries.data(), nq, o, &want));
      o.row_scale = scale.data();
      ASSERT_OK(ExactSearch(Metric::kCosine, base.data(), kN, kDim, queries.data(), nq, o, &got));
      for (size_t q = 0; q < nq; ++q) {
        ASSERT_EQ(got[q].size(), want[q].size());
        for (size_t i = 0; i < got[q].size(); ++i) {
          EXPECT_EQ(got[q][i].slot, want[q][i].slot) << "query " << q << " rank " << i;
          EXPECT_NEAR(got[q][i].distance, want[q][i].distance, 1e-5);
        }
      }
    }
  }
}

class OverRowsTest : public ::testing::TestWithParam<Metric> {
 protected:
  void SetUp() override {
    ASSERT_OK(store_.Init(kDim, uint64_t{1} << 28));
    data_ = testing::ClusteredVectors(kN, kDim, 8);
    ASSERT_OK(store_.Append(data_.data(), kN));
  }
  RowSource Rows() const { return RowSource{store_.data(), store_.size()}; }
  std::vector<float> Query(size_t i) const {
    std::vector<float> q(data_.begin() + i * kDim, data_.begin() + (i + 1) * kDim);
    if (GetParam() == Metric::kCosine) NormalizeRows(q.data(), 1, kDim);
    return q;
  }
  VectorStore store_;
  std::vector<float> data_;
};

// Every row finds itself first, with the distance exact search gives it.
TEST_P(OverRowsTest, AGraphOverRowsFindsEveryRowWithTheExactDistance) {
  const Metric m = GetParam();
  const std::vector<uint32_t> slots = Iota(kN);
  ASSERT_OK_AND_ASSIGN(auto index,
                       HnswIndex::BuildOver(m, kDim, Rows(), slots.data(), kN, HnswParams{}, 2));
  EXPECT_TRUE(index->reads_in_place());
  std::vector<float> scale(kN, 1.0f);
  for (size_t i = 0; i < kN; ++i) scale[i] = InverseNorm(store_.row(i), kDim);
  size_t found = 0;
  for (size_t i = 0; i < kN; i += 7) {
    const std::vector<float> q = Query(i);
    HnswSearchOptions o;
    o.k = 3;
    o.ef = 64;
    HnswResult r = index->Search(q.data(), o);
    ASSERT_FALSE(r.neighbors.empty());
    found += r.neighbors[0].slot == i;
    ExactSearchOptions eo;
    eo.k = 1;
    eo.row_scale = m == Metric::kCosine ? scale.data() : nullptr;
    std::vector<std::vector<Neighbor>> exact;
    ASSERT_OK(ExactSearch(m, store_.data(), kN, kDim, q.data(), 1, eo, &exact));
    if (r.neighbors[0].slot == exact[0][0].slot) {
      EXPECT_EQ(r.neighbors[0].distance, exact[0][0].distance) << "row " << i;
    }
  }
  EXPECT_GE(found, (kN / 7) * 99 / 100);
  // The graph holds references (16 bytes), not the vectors (96 here).
  ASSERT_OK_AND_ASSIGN(auto copying,
                       HnswIndex::Build(m, kDim, data_.data(), slots.data(), kN, HnswParams{}, 2));
  EXPECT_LT(index->memory_bytes() + kN * (kDim * 4 - 16) / 2, copying->memory_bytes());
}

// Saved, then loaded over the same rows: the same answers. A file from a
// copying graph, or one naming slots the rows do not have, is DATA_LOSS.
TEST_P(OverRowsTest, ASavedGraphLoadsOverTheRowsAndRefusesWhatDoesNotFit) {
  const Metric m = GetParam();
  const std::vector<uint32_t> slots = Iota(kN);
  ASSERT_OK_AND_ASSIGN(auto index,
                       HnswIndex::BuildOver(m, kDim, Rows(), slots.data(), kN, HnswParams{}, 1));
  ::latentsearch::testing::TempDir dir;
  const std::string path = dir.Join("g.hnsw");
  ASSERT_OK(index->Save(path));
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(path));
  ASSERT_OK_AND_ASSIGN(auto loaded, HnswIndex::LoadOver(path, bytes, m, kDim, Rows()));
  for (size_t i = 0; i < kN; i += 31) {
    const std::vector<float> q = Query(i);
    HnswSearchOptions o;
    o.k = 5;
    HnswResult a = index->Search(q.data(), o), b = loaded->Search(q.data(), o);
    EXPECT_EQ(a.neighbors, b.neighbors) << "row " << i;
  }
  // Saving twice gives the same bytes (no addresses in the file).
  ASSERT_OK(loaded->Save(dir.Join("again.hnsw")));
  ASSERT_OK_AND_ASSIGN(std::string again, base::ReadFile(dir.Join("again.hnsw")));
  EXPECT_EQ(again, bytes);

  EXPECT_THAT(HnswIndex::LoadOver(path, bytes, m, kDim, RowSource{store_.data(), kN - 1}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("only 2999 vectors exist")));
  ASSERT_OK_AND_ASSIGN(auto copying,
                       HnswIndex::Build(m, kDim, data_.data(), slots.data(), kN, HnswParams{}, 1));
  ASSERT_OK(copying->Save(dir.Join("old.hnsw")));
  ASSERT_OK_AND_ASSIGN(std::string old, base::ReadFile(dir.Join("old.hnsw")));
  EXPECT_THAT(HnswIndex::LoadOver(path, old, m, kDim, Rows()),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("older version")));
  EXPECT_THAT(index->Add(data_.data(), slots.data(), 1, 1),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
}

// Slots outside the rows, an AddOver on a copying graph and an AddOver
// over other rows are refused with nothing inserted.
TEST_P(OverRowsTest, SlotsOutsideTheRowsAndTheWrongLayoutAreRefused) {
  const Metric m = GetParam();
  const std::vector<uint32_t> slots = Iota(kN);
  const uint32_t outside = kN;
  EXPECT_THAT(HnswIndex::BuildOver(m, kDim, Rows(), &outside, 1, HnswParams{}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside the 3000 rows")));
  ASSERT_OK_AND_ASSIGN(auto index,
                       HnswIndex::BuildOver(m, kDim, Rows(), slots.data(), 10, HnswParams{}, 1));
  EXPECT_THAT(index->AddOver(Rows(), &outside, 1, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outside")));
  const RowSource other{data_.data(), kN};
  EXPECT_THAT(index->AddOver(other, slots.data() + 10, 1, 1),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("other than")));
  EXPECT_EQ(index->size(), 10u);
  ASSERT_OK_AND_ASSIGN(auto copying,
                       HnswIndex::Build(m, kDim, data_.data(), slots.data(), 10, HnswParams{}, 1));
  EXPECT_THAT(copying->AddOver(Rows(), slots.data() + 10, 1, 1),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("use Add")));
  EXPECT_EQ(copying->size(), 10u);
}

INSTANTIATE_TEST_SUITE_P(Metrics, OverRowsTest,
                         ::testing::Values(Metric::kL1, Metric::kL2, Metric::kCosine),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

}  // namespace
}  // namespace latentsearch::index

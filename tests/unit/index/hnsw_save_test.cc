// HnswIndex::Save through the file-operations seam: the graph file is
// fsynced before it is renamed into place (and the directory after), and a
// failed fsync leaves the previous file untouched.
#include <algorithm>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/base/file.h"
#include "common/base/recording_file_ops.h"
#include "common/index/hnsw.h"
#include "common/index/hnsw_format.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/index/synthetic.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::_;
using ::testing::Contains;
using ::testing::Not;
using ::testing::StartsWith;

constexpr size_t kDim = 8, kRows = 300;

std::unique_ptr<HnswIndex> SmallGraph(const std::vector<float>& base) {
  std::vector<uint32_t> slots(kRows);
  std::iota(slots.begin(), slots.end(), 0u);
  HnswParams params;
  params.m = 8;
  params.ef_construction = 32;
  absl::StatusOr<std::unique_ptr<HnswIndex>> index =
      HnswIndex::Build(Metric::kL2, kDim, base.data(), slots.data(), kRows, params, 1);
  EXPECT_TRUE(index.ok()) << index.status();
  return index.ok() ? std::move(*index) : nullptr;
}

// Position of the first event starting with `prefix`, or -1.
int Find(const std::vector<std::string>& events, const std::string& prefix) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (absl::StartsWith(events[i], prefix)) return static_cast<int>(i);
  }
  return -1;
}

TEST(HnswSaveTest, SaveFsyncsTheTempFileBeforeTheRenameAndTheDirectoryAfter) {
  TempDir tmp;
  const std::vector<float> base = testing::RandomVectors(kRows, kDim, 5);
  std::unique_ptr<HnswIndex> index = SmallGraph(base);
  ASSERT_NE(index, nullptr);
  const std::string path = tmp.Join("g.bin");
  base::RecordingFileOps ops;
  ASSERT_OK(index->Save(path, &ops));

  const std::vector<std::string> events = ops.events();
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(absl::StartsWith(events[0], "create " + path + ".tmp.")) << events[0];
  const std::string temp = events[0].substr(std::string("create ").size());
  const int sync = Find(events, "sync " + temp);
  const int close = Find(events, "close " + temp);
  const int rename = Find(events, "rename " + temp + " " + path);
  const int syncdir = Find(events, "syncdir " + tmp.path());
  ASSERT_GE(sync, 0);
  ASSERT_GE(rename, 0);
  ASSERT_GE(syncdir, 0);
  EXPECT_LT(sync, close);
  EXPECT_LT(close, rename);
  EXPECT_LT(rename, syncdir);
  for (int i = 1; i < sync; ++i) EXPECT_EQ(events[i], "append " + temp);

  // What was published is the graph.
  absl::StatusOr<std::unique_ptr<HnswIndex>> loaded = HnswIndex::Load(path, Metric::kL2, kDim);
  ASSERT_OK(loaded.status());
  HnswSearchOptions opts;
  opts.k = 5;
  for (size_t q = 0; q < 10; ++q) {
    const float* query = base.data() + q * kDim;
    HnswResult a = index->Search(query, opts), b = (*loaded)->Search(query, opts);
    ASSERT_EQ(a.neighbors.size(), b.neighbors.size());
    for (size_t i = 0; i < a.neighbors.size(); ++i) {
      EXPECT_EQ(a.neighbors[i].slot, b.neighbors[i].slot);
      EXPECT_EQ(a.neighbors[i].distance, b.neighbors[i].distance);
    }
  }
}

TEST(HnswSaveTest, AFailedFsyncRenamesNothingAndKeepsThePreviousFile) {
  TempDir tmp;
  const std::vector<float> base = testing::RandomVectors(kRows, kDim, 6);
  std::unique_ptr<HnswIndex> index = SmallGraph(base);
  ASSERT_NE(index, nullptr);
  const std::string path = tmp.Join("g.bin");
  ASSERT_OK(base::WriteFileAtomically(path, "previous"));
  base::RecordingFileOps ops;
  ops.FailOn("sync", absl::UnknownError("injected fsync failure"));
  EXPECT_THAT(index->Save(path, &ops), StatusIs(absl::StatusCode::kUnknown, _));
  EXPECT_THAT(ops.events(), Not(Contains(StartsWith("rename"))));
  EXPECT_THAT(ops.events(), Contains(StartsWith("remove " + path + ".tmp.")));
  EXPECT_THAT(base::ReadFile(path), IsOkAndHolds("previous"));
}

// kHeaderBytes, the size hnsw_format.h documents, is what AppendHeader writes.
TEST(HnswFormatTest, AppendHeaderWritesKHeaderBytes) {
  std::string out;
  hnsw_format::AppendHeader(hnsw_format::Header{}, &out);
  EXPECT_EQ(out.size(), hnsw_format::kHeaderBytes);
}

// Add inserts rows into a built graph (or a loaded one, which has no
// insertion state): every row then finds itself, the answers match the
// exact index closely, and the grown graph saves and loads.
TEST(HnswAddTest, RowsAddedToABuiltOrLoadedGraphAreFound) {
  constexpr size_t kAll = 3 * kRows;
  const std::vector<float> base = testing::RandomVectors(kAll, kDim, 11);
  std::vector<uint32_t> slots(kAll);
  std::iota(slots.begin(), slots.end(), 0u);
  std::unique_ptr<HnswIndex> index = SmallGraph(base);  // rows 0..kRows
  ASSERT_NE(index, nullptr);
  ASSERT_OK(index->Add(base.data(), slots.data() + kRows, kRows, 7, 2));
  TempDir tmp;
  const std::string path = tmp.Join("g.bin");
  ASSERT_OK(index->Save(path));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<HnswIndex> loaded, HnswIndex::Load(path, Metric::kL2, kDim));
  ASSERT_OK(loaded->Add(base.data(), slots.data() + 2 * kRows, kRows, 7, 1));
  EXPECT_EQ(loaded->size(), kAll);
  HnswSearchOptions o;
  o.k = 10;
  o.ef = 64;
  ExactSearchOptions eo;
  eo.k = 10;
  std::vector<std::vector<Neighbor>> exact;
  ASSERT_OK(ExactSearch(Metric::kL2, base.data(), kAll, kDim, base.data(), kAll, eo, &exact));
  size_t self = 0, overlap = 0;
  for (size_t i = 0; i < kAll; ++i) {
    HnswResult r = loaded->Search(base.data() + i * kDim, o);
    ASSERT_FALSE(r.neighbors.empty());
    self += r.neighbors[0].slot == i;
    for (const Neighbor& a : r.neighbors) {
      for (const Neighbor& b : exact[i]) overlap += a.slot == b.slot;
    }
  }
  EXPECT_EQ(self, kAll);
  EXPECT_GE(static_cast<double>(overlap) / (10.0 * kAll), 0.95);
}

}  // namespace
}  // namespace latentsearch::index

// Saved HNSW graphs of a collection: the manifest codec, a graph that fails
// to load at start (logged with its cause, rebuilt, searches still right),
// and a graph save that fails (logged, the snapshot still succeeds).
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/crc32.h"
#include "common/base/file.h"
#include "common/base/log_capture.h"
#include "common/base/recording_file_ops.h"
#include "common/index/collection.h"
#include "common/index/collection_persistence.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::index {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 8;
constexpr int kItems = 600;

CollectionConfig Config() {
  CollectionConfig c;
  c.name = "graphs";
  c.dim = kDim;
  c.metrics = {Metric::kL2};
  c.hnsw_params.m = 8;
  c.hnsw_params.ef_construction = 64;
  c.ef_search = 64;
  return c;
}

CollectionOptions Options(const std::string& dir) {
  CollectionOptions o;
  o.dir = dir;
  o.rebuild_min_changes = 50;
  o.num_threads = 1;
  return o;
}

ItemBatch Items() {
  std::mt19937 rng(21);
  std::normal_distribution<float> g;
  ItemBatch b;
  for (int i = 0; i < kItems; ++i) {
    b.metas.push_back({absl::StrCat("id", i), i % 5, ""});
    for (uint32_t d = 0; d < kDim; ++d) b.vectors.push_back(g(rng));
  }
  return b;
}

// A collection with its L2 graph saved beside the snapshot.
void CreateWithSavedGraph(const std::string& dir, const ItemBatch& items) {
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), Options(dir)));
  ASSERT_OK(c->Upsert(items).status());
  c->WaitForIndexes();
  ASSERT_OK(c->Snapshot().status());
  ASSERT_OK(base::FileSize(GraphFilePath(dir, Metric::kL2)).status());
}

// Every item's own vector finds it first through HNSW, with no fallback.
void ExpectHnswFindsEveryItem(const Collection& c, const ItemBatch& items) {
  SearchParams p;
  p.hnsw = true;
  p.metric = Metric::kL2;
  p.k = 3;
  for (int i = 0; i < kItems; i += 7) {
    SearchResult r = c.Search(items.vectors.data() + size_t{kDim} * i, p);
    EXPECT_FALSE(r.exact_fallback);
    ASSERT_FALSE(r.hits.empty());
    EXPECT_EQ(r.hits[0].id, items.metas[i].id);
    EXPECT_EQ(r.hits[0].distance, 0.0f);
  }
}

TEST(GraphManifestTest, RoundTripsAndRejectsDamage) {
  GraphManifest m;
  m.wal_seq = 42;
  m.entries.push_back({Metric::kCosine, 600, 123456, 0xdeadbeef});
  m.entries.push_back({Metric::kL1, 7, 99, 1});
  const std::string bytes = EncodeGraphManifest(m);
  ASSERT_EQ(bytes.size(), 8 + 8 + 4 + 2 * 17 + 4u);
  ASSERT_OK_AND_ASSIGN(GraphManifest back, DecodeGraphManifest(bytes, "m"));
  EXPECT_EQ(back.wal_seq, 42u);
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0].metric, Metric::kCosine);
  EXPECT_EQ(back.entries[0].built_n, 600u);
  EXPECT_EQ(back.entries[0].bytes, 123456u);
  EXPECT_EQ(back.entries[0].crc, 0xdeadbeefu);
  EXPECT_EQ(back.entries[1].metric, Metric::kL1);

  std::string flipped = bytes;
  flipped[10] ^= 1;
  EXPECT_THAT(DecodeGraphManifest(flipped, "m"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum mismatch")));
  EXPECT_THAT(DecodeGraphManifest(bytes.substr(0, 10), "m"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
  EXPECT_THAT(DecodeGraphManifest("XXXXXXXX" + bytes.substr(8), "m"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("magic")));
}

TEST(GraphPersistenceTest, ATruncatedGraphIsLoggedWithItsCauseAndRebuilt) {
  TempDir tmp;
  const std::string dir = tmp.Join("c");
  const ItemBatch items = Items();
  CreateWithSavedGraph(dir, items);
  if (HasFatalFailure()) return;
  const std::string graph = GraphFilePath(dir, Metric::kL2);
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(graph));
  ASSERT_OK(base::WriteFileAtomically(graph, bytes.substr(0, bytes.size() / 2)));

  base::LogCapture logs(google::GLOG_WARNING);
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(Options(dir)));
  EXPECT_THAT(logs.messages(),
              Contains(AllOf(HasSubstr("collection 'graphs'"), HasSubstr("rebuilding"),
                             HasSubstr("hnsw-l2.bin"), HasSubstr("the manifest says"))));
  c->WaitForIndexes();
  ExpectHnswFindsEveryItem(*c, items);
}

// The file's size and checksum match the manifest (rewritten to match),
// but the graph inside is corrupt: the parser's cause is logged.
TEST(GraphPersistenceTest, ACorruptGraphThatPassesItsChecksumIsLoggedWithItsCauseAndRebuilt) {
  TempDir tmp;
  const std::string dir = tmp.Join("c");
  const ItemBatch items = Items();
  CreateWithSavedGraph(dir, items);
  if (HasFatalFailure()) return;
  const std::string graph = GraphFilePath(dir, Metric::kL2);
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(graph));
  bytes.append("trailing garbage");
  ASSERT_OK(base::WriteFileAtomically(graph, bytes));
  ASSERT_OK_AND_ASSIGN(std::string mbytes, base::ReadFile(GraphManifestPath(dir)));
  ASSERT_OK_AND_ASSIGN(GraphManifest manifest, DecodeGraphManifest(mbytes, "m"));
  ASSERT_EQ(manifest.entries.size(), 1u);
  manifest.entries[0].bytes = bytes.size();
  manifest.entries[0].crc = base::Crc32(bytes);
  ASSERT_OK(base::WriteFileAtomically(GraphManifestPath(dir), EncodeGraphManifest(manifest)));

  base::LogCapture logs(google::GLOG_WARNING);
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(Options(dir)));
  EXPECT_THAT(logs.messages(), Contains(AllOf(HasSubstr("rebuilding"), HasSubstr("hnsw-l2.bin"),
                                              HasSubstr("unexpected trailing bytes"))));
  c->WaitForIndexes();
  ExpectHnswFindsEveryItem(*c, items);
}

TEST(GraphPersistenceTest, AFailedGraphSaveIsLoggedAndTheSnapshotStillSucceeds) {
  TempDir tmp;
  const std::string dir = tmp.Join("c");
  const ItemBatch items = Items();
  base::RecordingFileOps ops;
  CollectionOptions options = Options(dir);
  options.file_ops = &ops;
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), options));
    ASSERT_OK(c->Upsert(items).status());
    c->WaitForIndexes();
    ops.FailOn("sync", absl::UnknownError("injected fsync failure"));
    base::LogCapture logs(google::GLOG_WARNING);
    ASSERT_OK(c->Snapshot().status());
    EXPECT_THAT(logs.messages(), Contains(AllOf(HasSubstr("will be rebuilt at the next start"),
                                                HasSubstr("injected fsync failure"))));
  }
  // The graph was left out of the manifest: rebuilt at start, still right.
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(Options(dir)));
  c->WaitForIndexes();
  ExpectHnswFindsEveryItem(*c, items);
}

}  // namespace
}  // namespace latentsearch::index

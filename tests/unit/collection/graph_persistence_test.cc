// Saved HNSW graphs of a collection: the manifest codec, a graph that fails
// to load at start (logged with its cause, rebuilt, searches still right),
// and a graph or manifest save that fails (logged, the snapshot still
// succeeds, the graph is rebuilt at the next start).
#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/base/crc32.h"
#include "common/base/file.h"
#include "common/base/file_ops.h"
#include "common/base/little_endian.h"
#include "common/base/log_capture.h"
#include "common/base/recording_file_ops.h"
#include "common/index/collection.h"
#include "common/index/collection_persistence.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/collection/collection_test_util.h"

namespace latentsearch::index {
namespace {

using collection_test_util::kDim;
using collection_test_util::RandomItems;
using collection_test_util::SmallGraphConfig;
using collection_test_util::TestOptions;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::_;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int kItems = 600;

CollectionConfig Config() {
  CollectionConfig c = SmallGraphConfig("graphs");
  c.metrics = {Metric::kL2};
  return c;
}

ItemBatch Items() { return RandomItems(0, kItems, 21); }

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

// `bytes` (a manifest) with `patch` written at `offset` and the trailing
// checksum recomputed, so only the patched field is wrong.
std::string PatchedManifest(const std::string& bytes, size_t offset, const std::string& patch) {
  std::string body = bytes.substr(0, bytes.size() - 4);
  body.replace(offset, patch.size(), patch);
  base::AppendLittleEndian<uint32_t>(base::Crc32(body), &body);
  return body;
}

TEST(GraphManifestTest, RejectsABadEntryCount) {
  GraphManifest m;
  m.entries.push_back({Metric::kL2, 600, 123456, 1});
  const std::string bytes = EncodeGraphManifest(m);
  constexpr size_t kCountOffset = 8 + 8;
  // More entries than there are metrics.
  std::string four;
  base::AppendLittleEndian<uint32_t>(4, &four);
  EXPECT_THAT(DecodeGraphManifest(PatchedManifest(bytes, kCountOffset, four), "m"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("'m'"), HasSubstr("4 entries"), HasSubstr("at most 3"))));
  // A count that does not match the bytes that follow.
  std::string two;
  base::AppendLittleEndian<uint32_t>(2, &two);
  EXPECT_THAT(DecodeGraphManifest(PatchedManifest(bytes, kCountOffset, two), "m"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("2 entries in")));
}

TEST(GraphManifestTest, RejectsAnUnknownMetricCode) {
  GraphManifest m;
  m.entries.push_back({Metric::kL2, 600, 123456, 1});
  const std::string bytes = EncodeGraphManifest(m);
  constexpr size_t kMetricOffset = 8 + 8 + 4;
  EXPECT_THAT(
      DecodeGraphManifest(PatchedManifest(bytes, kMetricOffset, std::string(1, '\x07')), "m"),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("unknown metric code 7"), HasSubstr("expected 0..2"))));
}

// Forwards to the real file system but fails creating the graph manifest's
// temp file in `dir`. Thread-safe (stateless past construction).
class FailManifestOps final : public base::FileOps {
 public:
  explicit FailManifestOps(const std::string& dir) : manifest_(GraphManifestPath(dir)) {}
  absl::StatusOr<std::unique_ptr<base::WritableFile>> Create(const std::string& path) override {
    if (absl::StartsWith(path, manifest_)) return absl::UnknownError("injected manifest failure");
    return base::DefaultFileOps().Create(path);
  }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    return base::DefaultFileOps().Rename(from, to);
  }
  absl::Status Remove(const std::string& path) override {
    return base::DefaultFileOps().Remove(path);
  }
  absl::Status SyncDir(const std::string& dir) override {
    return base::DefaultFileOps().SyncDir(dir);
  }

 private:
  const std::string manifest_;
};

// A test collection directory, its items and the path of its L2 graph.
class GraphPersistenceTest : public ::testing::Test {
 protected:
  // TestOptions(dir_) that count the graph builds in builds_ (a graph
  // loaded from disk is not built).
  CollectionOptions CountingOptions() {
    CollectionOptions o = TestOptions(dir_);
    o.before_build = [this](Metric) {
      builds_.fetch_add(1);
      return absl::OkStatus();
    };
    return o;
  }

  // Replaces the manifest with `edit` applied to it.
  void EditManifest(const std::function<void(GraphManifest*)>& edit) {
    ASSERT_OK_AND_ASSIGN(std::string mbytes, base::ReadFile(GraphManifestPath(dir_)));
    ASSERT_OK_AND_ASSIGN(GraphManifest manifest, DecodeGraphManifest(mbytes, "m"));
    edit(&manifest);
    ASSERT_OK(base::WriteFileAtomically(GraphManifestPath(dir_), EncodeGraphManifest(manifest)));
  }

  // Creates the collection with its L2 graph saved beside the snapshot and
  // reads that graph file into graph_bytes_.
  void CreateWithSavedGraph() {
    {
      ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
      ASSERT_OK(c->Upsert(items_).status());
      c->WaitForIndexes();
      ASSERT_OK(c->Snapshot().status());
    }
    ASSERT_OK_AND_ASSIGN(graph_bytes_, base::ReadFile(graph_path_));
  }

  // Reopens the collection: a warning matches `logged`, and the graph,
  // rebuilt (built once, not loaded), finds every item.
  void ExpectReopenLogsAndRebuilds(const ::testing::Matcher<const std::string&>& logged) {
    base::LogCapture logs(google::GLOG_WARNING);
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
    EXPECT_THAT(logs.messages(), Contains(logged));
    c->WaitForIndexes();
    EXPECT_EQ(builds_.load(), 1);
    ExpectHnswFindsEveryItem(*c, items_);
  }

  TempDir tmp_;
  const std::string dir_ = tmp_.Join("c");
  const std::string graph_path_ = GraphFilePath(dir_, Metric::kL2);
  const ItemBatch items_ = Items();
  std::string graph_bytes_;
  std::atomic<int> builds_{0};
};

// The control for the build count: an intact saved graph is loaded. The
// manifest's size and checksum (counted while the graph was written) are
// those of the file.
TEST_F(GraphPersistenceTest, AnIntactGraphIsLoadedNotRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  ASSERT_OK_AND_ASSIGN(std::string mbytes, base::ReadFile(GraphManifestPath(dir_)));
  ASSERT_OK_AND_ASSIGN(GraphManifest manifest, DecodeGraphManifest(mbytes, "m"));
  ASSERT_EQ(manifest.entries.size(), 1u);
  EXPECT_EQ(manifest.entries[0].bytes, graph_bytes_.size());
  EXPECT_EQ(manifest.entries[0].crc, base::Crc32(graph_bytes_));
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 0);
  ExpectHnswFindsEveryItem(*c, items_);
}

// A manifest left by an older snapshot (the crash between a snapshot and
// its graphs) is not used.
TEST_F(GraphPersistenceTest, AManifestForAnotherSnapshotIsLoggedAndTheGraphsRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  EditManifest([](GraphManifest* m) { m->wal_seq += 1; });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("rebuilding"), HasSubstr("hnsw.manifest"),
                                    HasSubstr("for the snapshot at log sequence")));
}

TEST_F(GraphPersistenceTest, AGraphCoveringMoreSlotsThanTheCollectionIsLoggedAndRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  EditManifest([](GraphManifest* m) { m->entries.at(0).built_n = kItems + 1; });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(AllOf(
      HasSubstr("rebuilding"), HasSubstr("graph l2: covers 601 slots, the collection has 600")));
}

TEST_F(GraphPersistenceTest, ATruncatedGraphIsLoggedWithItsCauseAndRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  ASSERT_OK(
      base::WriteFileAtomically(graph_path_, graph_bytes_.substr(0, graph_bytes_.size() / 2)));
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("collection 'graphs'"), HasSubstr("rebuilding"),
                                    HasSubstr("hnsw-l2.bin"), HasSubstr("the manifest says")));
}

// The file's size and checksum match the manifest (rewritten to match),
// but the graph inside is corrupt: the parser's cause is logged.
TEST_F(GraphPersistenceTest, ACorruptGraphThatPassesItsChecksumIsLoggedWithItsCauseAndRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  const std::string bytes = graph_bytes_ + "trailing garbage";
  ASSERT_OK(base::WriteFileAtomically(graph_path_, bytes));
  EditManifest([&bytes](GraphManifest* manifest) {
    ASSERT_EQ(manifest->entries.size(), 1u);
    manifest->entries[0].bytes = bytes.size();
    manifest->entries[0].crc = base::Crc32(bytes);
  });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("rebuilding"), HasSubstr("hnsw-l2.bin"),
                                    HasSubstr("unexpected trailing bytes")));
}

TEST_F(GraphPersistenceTest, AFailedGraphSaveIsLoggedAndTheSnapshotStillSucceeds) {
  base::RecordingFileOps ops;
  CollectionOptions options = TestOptions(dir_);
  options.file_ops = &ops;
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), options));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    ops.FailOn("sync", absl::UnknownError("injected fsync failure"));
    base::LogCapture logs(google::GLOG_WARNING);
    ASSERT_OK(c->Snapshot().status());
    EXPECT_THAT(logs.messages(), Contains(AllOf(HasSubstr("will be rebuilt at the next start"),
                                                HasSubstr("injected fsync failure"))));
  }
  // The graph was left out of the manifest: rebuilt at start, still right.
  ASSERT_OK_AND_ASSIGN(std::string mbytes, base::ReadFile(GraphManifestPath(dir_)));
  ASSERT_OK_AND_ASSIGN(GraphManifest manifest, DecodeGraphManifest(mbytes, "m"));
  EXPECT_THAT(manifest.entries, IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 1);
  ExpectHnswFindsEveryItem(*c, items_);
}

// The manifest goes through CollectionOptions::file_ops too: when it cannot
// be written the snapshot still succeeds, and the graph is rebuilt at the
// next start.
TEST_F(GraphPersistenceTest, AFailedManifestWriteIsLoggedAndTheGraphsAreRebuilt) {
  FailManifestOps ops(dir_);
  CollectionOptions options = TestOptions(dir_);
  options.file_ops = &ops;
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), options));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    base::LogCapture logs(google::GLOG_WARNING);
    ASSERT_OK(c->Snapshot().status());
    EXPECT_THAT(logs.messages(),
                Contains(AllOf(HasSubstr("will be rebuilt at the next start"),
                               HasSubstr("manifest: "), HasSubstr("injected manifest failure"))));
  }
  EXPECT_THAT(base::ReadFile(GraphManifestPath(dir_)), StatusIs(absl::StatusCode::kNotFound, _));
  // No manifest: the graph is rebuilt without a warning.
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 1);
  ExpectHnswFindsEveryItem(*c, items_);
}

}  // namespace
}  // namespace latentsearch::index

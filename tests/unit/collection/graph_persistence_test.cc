// Saved HNSW graphs of a collection: the manifest codec (v2, and v1 still
// read), restarts that load the graphs instead of building them (a clean
// close, a kill -9 image with a log tail, a snapshot in between), a graph
// that fails to load at start (logged with its cause, rebuilt, searches
// still right), and a graph or manifest save that fails (logged, the
// snapshot still succeeds, the graph is rebuilt at the next start).
#include <algorithm>
#include <atomic>
#include <filesystem>
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
  for (size_t i = 0; i < items.metas.size(); i += 7) {
    SearchResult r = c.Search(items.vectors.data() + size_t{kDim} * i, p);
    EXPECT_FALSE(r.exact_fallback);
    ASSERT_FALSE(r.hits.empty());
    EXPECT_EQ(r.hits[0].id, items.metas[i].id);
    EXPECT_EQ(r.hits[0].distance, 0.0f);
  }
}

TEST(GraphManifestTest, RoundTripsAndRejectsDamage) {
  GraphManifest m;
  m.base_seq = 42;
  m.created_at_us = 1234567;
  m.entries.push_back({Metric::kCosine, 600, 45, 3, 123456, 0xdeadbeef});
  m.entries.push_back({Metric::kL1, 7, 42, 1, 99, 1});
  const std::string bytes = EncodeGraphManifest(m);
  ASSERT_EQ(bytes.size(), 8 + 8 + 8 + 4 + 2 * 33 + 4u);
  ASSERT_OK_AND_ASSIGN(GraphManifest back, DecodeGraphManifest(bytes, "m"));
  EXPECT_EQ(back.base_seq, 42u);
  EXPECT_EQ(back.created_at_us, 1234567);
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0].metric, Metric::kCosine);
  EXPECT_EQ(back.entries[0].built_n, 600u);
  EXPECT_EQ(back.entries[0].covered_seq, 45u);
  EXPECT_EQ(back.entries[0].file_id, 3u);
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

// A v1 manifest (written before graphs were saved after every build)
// reads as base_seq = covered_seq = its wal_seq, file id 0.
std::string V1Manifest(uint64_t wal_seq, const GraphManifestEntry& e) {
  std::string out = "LSHNSW01";
  base::AppendLittleEndian<uint64_t>(wal_seq, &out);
  base::AppendLittleEndian<uint32_t>(1, &out);
  base::AppendLittleEndian<uint8_t>(static_cast<uint8_t>(e.metric), &out);
  base::AppendLittleEndian<uint32_t>(e.built_n, &out);
  base::AppendLittleEndian<uint64_t>(e.bytes, &out);
  base::AppendLittleEndian<uint32_t>(e.crc, &out);
  base::AppendLittleEndian<uint32_t>(base::Crc32(out), &out);
  return out;
}

TEST(GraphManifestTest, ReadsVersion1) {
  ASSERT_OK_AND_ASSIGN(GraphManifest m,
                       DecodeGraphManifest(V1Manifest(9, {Metric::kL2, 600, 0, 0, 77, 5}), "m"));
  EXPECT_EQ(m.base_seq, 9u);
  EXPECT_EQ(m.created_at_us, 0);
  ASSERT_EQ(m.entries.size(), 1u);
  EXPECT_EQ(m.entries[0].covered_seq, 9u);
  EXPECT_EQ(m.entries[0].file_id, 0u);
  EXPECT_EQ(m.entries[0].bytes, 77u);
  EXPECT_EQ(m.entries[0].crc, 5u);
  EXPECT_EQ(GraphFilePath("d", Metric::kL2, 0), "d/hnsw-l2.bin");
  EXPECT_EQ(GraphFilePath("d", Metric::kL2, 12), "d/hnsw-l2-12.bin");
}

TEST(GraphManifestTest, RejectsABadEntryCount) {
  GraphManifest m;
  m.entries.push_back({Metric::kL2, 600, 0, 1, 123456, 1});
  const std::string bytes = EncodeGraphManifest(m);
  constexpr size_t kCountOffset = 8 + 8 + 8;
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
  m.entries.push_back({Metric::kL2, 600, 0, 1, 123456, 1});
  const std::string bytes = EncodeGraphManifest(m);
  constexpr size_t kMetricOffset = 8 + 8 + 8 + 4;
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
  // reads that graph file into graph_bytes_ (its path: graph_path_).
  void CreateWithSavedGraph() {
    {
      ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
      ASSERT_OK(c->Upsert(items_).status());
      c->WaitForIndexes();
      ASSERT_OK(c->Snapshot().status());
    }
    ASSERT_OK_AND_ASSIGN(graph_path_, collection_test_util::SavedGraphPath(dir_, Metric::kL2));
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
  std::string graph_path_;
  const ItemBatch items_ = Items();
  std::string graph_bytes_;
  std::atomic<int> builds_{0};
};

// Growth is inserted into the serving graph, not rebuilt: batches of
// upserts after the first build cost no build (the graph covers every item
// once the builder is idle); kills of a rebuild's worth cost one.
TEST_F(GraphPersistenceTest, AdditionsAreInsertedIntoTheServingGraphAndOnlyKillsRebuild) {
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), CountingOptions()));
  ASSERT_OK(c->Upsert(items_).status());
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 1);
  for (int b = 0; b < 4; ++b) {
    ASSERT_OK(c->Upsert(RandomItems(kItems + 150 * b, 150, 40 + b)).status());
    c->WaitForIndexes();
  }
  EXPECT_EQ(builds_.load(), 1);
  for (const IndexStatsEntry& e : c->Stats().indexes) {
    if (e.hnsw) {
      EXPECT_EQ(e.items, size_t{kItems} + 600);
      EXPECT_EQ(e.state, IndexState::kReady);
    }
  }
  ExpectHnswFindsEveryItem(*c, RandomItems(kItems, 150, 40));
  ExpectHnswFindsEveryItem(*c, RandomItems(kItems + 450, 150, 43));
  std::vector<std::string> gone;
  for (int i = 0; i < 200; ++i) gone.push_back(items_.metas[i].id);
  ASSERT_OK(c->Delete(gone).status());
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 2);
  for (const IndexStatsEntry& e : c->Stats().indexes) {
    if (e.hnsw) EXPECT_EQ(e.items, size_t{kItems} + 400);
  }
}

// A collection whose vectors would outgrow max_vector_bytes refuses the
// write before logging it: nothing of it is applied or replayed, and what
// was there before survives a restart.
TEST_F(GraphPersistenceTest, AWritePastMaxVectorBytesIsRefusedBeforeItIsLogged) {
  CollectionOptions o = TestOptions(dir_);
  o.max_vector_bytes = 700 * kDim * sizeof(float);
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), o));
    ASSERT_OK(c->Upsert(items_).status());
    EXPECT_THAT(c->Upsert(RandomItems(kItems, 101, 50)).status(),
                StatusIs(absl::StatusCode::kResourceExhausted,
                         AllOf(HasSubstr("'graphs'"), HasSubstr("has room for 700"))));
    EXPECT_EQ(c->Stats().item_count, size_t{kItems});
  }
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(o));
  EXPECT_EQ(c->Stats().item_count, size_t{kItems});
  ASSERT_OK(c->Upsert(RandomItems(kItems, 100, 51)).status());
  EXPECT_EQ(c->Stats().item_count, size_t{kItems} + 100);
}

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
  EditManifest([](GraphManifest* m) { m->base_seq += 1; });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("rebuilding"), HasSubstr("hnsw.manifest"),
                                    HasSubstr("for the snapshot at log sequence")));
}

TEST_F(GraphPersistenceTest, AGraphCoveringMoreSlotsThanTheCollectionIsLoggedAndRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  EditManifest([](GraphManifest* m) { m->entries.at(0).built_n = kItems + 1; });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(
      AllOf(HasSubstr("rebuilding"),
            HasSubstr("graph l2: covers 601 slots through log record 1; the replay has 600")));
}

TEST_F(GraphPersistenceTest, ATruncatedGraphIsLoggedWithItsCauseAndRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  ASSERT_OK(
      base::WriteFileAtomically(graph_path_, graph_bytes_.substr(0, graph_bytes_.size() / 2)));
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("collection 'graphs'"), HasSubstr("rebuilding"),
                                    HasSubstr("hnsw-l2-"), HasSubstr("the manifest says")));
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
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("rebuilding"), HasSubstr("hnsw-l2-"),
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
  // The graph file was saved after the build; the snapshot failed to
  // publish the manifest for its new log position, and the close (the
  // failure was injected once) published it: loaded, not rebuilt.
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 0);
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

// --- Restarts that load graphs (#13) -----------------------------------

// HNSW answers (ids and distances) for every 5th item's vector, k 10.
std::vector<std::vector<std::pair<std::string, float>>> Answers(const Collection& c,
                                                                const ItemBatch& items) {
  SearchParams p;
  p.hnsw = true;
  p.metric = Metric::kL2;
  p.k = 10;
  std::vector<std::vector<std::pair<std::string, float>>> out;
  for (size_t i = 0; i < items.metas.size(); i += 5) {
    SearchResult r = c.Search(items.vectors.data() + size_t{kDim} * i, p);
    EXPECT_FALSE(r.exact_fallback);
    out.emplace_back();
    for (const Hit& h : r.hits) out.back().emplace_back(h.id, h.distance);
  }
  return out;
}

// `a` and `b` concatenated.
ItemBatch Concat(ItemBatch a, const ItemBatch& b) {
  a.metas.insert(a.metas.end(), b.metas.begin(), b.metas.end());
  a.vectors.insert(a.vectors.end(), b.vectors.begin(), b.vectors.end());
  return a;
}

// Copies the files of `from` into a new directory `to`: what a kill -9 of
// the running collection leaves (every write is fsynced or published
// atomically before it returns).
void CopyDir(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(to);
  for (const auto& f : std::filesystem::directory_iterator(from)) {
    std::filesystem::copy_file(f.path(), std::filesystem::path(to) / f.path().filename());
  }
}

// No Snapshot() at all: the graph saved after the background build is
// loaded, answers are the same, nothing is built or inserted.
TEST_F(GraphPersistenceTest, ARestartLoadsTheGraphSavedAfterTheBuild) {
  std::vector<std::vector<std::pair<std::string, float>>> before;
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    EXPECT_EQ(c->Stats().graphs_built, 1u);
    before = Answers(*c, items_);
  }
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 0);
  CollectionStats stats = c->Stats();
  EXPECT_EQ(stats.graphs_built, 0u);
  EXPECT_EQ(stats.graphs_loaded, 1u);
  EXPECT_EQ(stats.graph_tail_inserts, 0u);
  EXPECT_EQ(Answers(*c, items_), before);
}

// Rows upserted after the last build (fewer than a rebuild needs) are
// inserted into the graph at close, which is saved covering them.
TEST_F(GraphPersistenceTest, ACleanCloseInsertsTheRowsSinceTheBuildAndSaves) {
  const ItemBatch more = RandomItems(kItems, 30, 22);
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    ASSERT_OK(c->Upsert(more).status());
    ASSERT_OK(c->Delete({"id3"}).status());
    c->WaitForIndexes();
    EXPECT_EQ(c->Stats().graphs_built, 1u);  // below the rebuild threshold
  }
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 0);
  CollectionStats stats = c->Stats();
  EXPECT_EQ(stats.graphs_loaded, 1u);
  EXPECT_EQ(stats.graph_tail_inserts, 0u);
  for (const IndexStatsEntry& e : stats.indexes) {
    if (e.hnsw) {
      EXPECT_EQ(e.items, size_t{kItems} + 30);
      EXPECT_EQ(e.state, IndexState::kReady);
    }
  }
  ExpectHnswFindsEveryItem(*c, items_);
  SearchParams p;
  p.hnsw = true;
  p.k = 1;
  for (size_t i = 0; i < more.metas.size(); ++i) {
    SearchResult r = c->Search(more.vectors.data() + size_t{kDim} * i, p);
    ASSERT_EQ(r.hits.size(), 1u);
    EXPECT_EQ(r.hits[0].id, more.metas[i].id);
  }
  EXPECT_FALSE(c->GetVector("id3").has_value());
}

// The directory as a kill -9 leaves it after a build and a log tail (with
// a delete): the graph is loaded, only the tail's rows are inserted, and
// the answers are those of the running collection (which searched the
// tail exactly).
TEST_F(GraphPersistenceTest, AKillNineCostsOnlyTheInsertsOfTheLogTail) {
  const ItemBatch more = RandomItems(kItems, 30, 23);
  const std::string crash = tmp_.Join("crash");
  const ItemBatch all = Concat(items_, more);
  std::vector<std::vector<std::pair<std::string, float>>> before;
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    ASSERT_OK(c->Upsert(more).status());
    ASSERT_OK(c->Delete({"id5"}).status());
    c->WaitForIndexes();
    before = Answers(*c, all);
    CopyDir(dir_, crash);
    c->Abandon();  // this test's running copy writes nothing more
  }
  CollectionOptions o = CountingOptions();
  o.dir = crash;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(o));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 0);
  CollectionStats stats = c->Stats();
  EXPECT_EQ(stats.graphs_loaded, 1u);
  EXPECT_EQ(stats.graph_tail_inserts, 30u);
  EXPECT_EQ(Answers(*c, all), before);
}

// A tail of a rebuild's size is not inserted at the open (that would hold
// it up like a build): the loaded graph serves at once with the tail
// searched exactly, and the background builder inserts the tail into it
// (no rebuild: only kills make one).
TEST_F(GraphPersistenceTest, ALongTailIsInsertedInTheBackground) {
  const ItemBatch more = RandomItems(kItems, 100, 27);
  const std::string crash = tmp_.Join("crash");
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
  }
  {
    CollectionOptions lazy = TestOptions(dir_);
    lazy.rebuild_min_changes = 1000000;
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(lazy));
    ASSERT_OK(c->Upsert(more).status());
    CopyDir(dir_, crash);
    c->Abandon();
  }
  CollectionOptions o = CountingOptions();
  o.dir = crash;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(o));
  EXPECT_EQ(c->Stats().graphs_loaded, 1u);
  EXPECT_EQ(c->Stats().graph_tail_inserts, 0u);
  SearchParams p;
  p.hnsw = true;
  p.k = 1;
  for (size_t i = 0; i < more.metas.size(); i += 9) {
    SearchResult r = c->Search(more.vectors.data() + size_t{kDim} * i, p);
    EXPECT_FALSE(r.exact_fallback);
    ASSERT_EQ(r.hits.size(), 1u);
    EXPECT_EQ(r.hits[0].id, more.metas[i].id);
  }
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 0);
  for (const IndexStatsEntry& e : c->Stats().indexes) {
    if (e.hnsw) {
      EXPECT_EQ(e.items, items_.metas.size() + more.metas.size());
    }
  }
  ExpectHnswFindsEveryItem(*c, items_);
  ExpectHnswFindsEveryItem(*c, more);
}

// A snapshot taken while no slot is dead keeps the numbering: the graphs
// are loaded after it. One that drops dead slots renumbers them: the saved
// graphs are removed and rebuilt once after the restart, then saved again.
TEST_F(GraphPersistenceTest, ASnapshotThatRenumbersSlotsLeadsToOneRebuild) {
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    ASSERT_OK(c->Snapshot().status());
  }
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
    EXPECT_EQ(c->Stats().graphs_loaded, 1u);
    ASSERT_OK(c->Delete({"id1", "id2"}).status());
    ASSERT_OK(c->Snapshot().status());
    EXPECT_THAT(base::ReadFile(GraphManifestPath(dir_)), StatusIs(absl::StatusCode::kNotFound, _));
  }
  EXPECT_EQ(builds_.load(), 0);
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
    c->WaitForIndexes();
    EXPECT_EQ(builds_.load(), 1);
    EXPECT_EQ(c->Stats().graphs_loaded, 0u);
    EXPECT_FALSE(c->GetVector("id1").has_value());
  }
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  c->WaitForIndexes();
  EXPECT_EQ(builds_.load(), 1);
  EXPECT_EQ(c->Stats().graphs_loaded, 1u);
  ItemBatch left = items_;
  left.metas.erase(left.metas.begin() + 1, left.metas.begin() + 3);
  left.vectors.erase(left.vectors.begin() + kDim, left.vectors.begin() + 3 * kDim);
  SearchParams p;
  p.hnsw = true;
  p.k = 1;
  for (size_t i = 0; i < left.metas.size(); i += 7) {
    SearchResult r = c->Search(left.vectors.data() + size_t{kDim} * i, p);
    ASSERT_EQ(r.hits.size(), 1u);
    EXPECT_EQ(r.hits[0].id, left.metas[i].id);
  }
}

// A manifest whose graph claims a log position the replay does not have
// (a log that lost records, a graph from elsewhere) is not trusted.
TEST_F(GraphPersistenceTest, AGraphCoveringALogRecordTheReplayLacksIsRebuilt) {
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
  }
  EditManifest([](GraphManifest* m) { m->entries.at(0).covered_seq = 7; });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(
      AllOf(HasSubstr("rebuilding"), HasSubstr("through log record 7; the replay has 0 slots")));
}

// A manifest of another collection that had this directory's name.
TEST_F(GraphPersistenceTest, AManifestOfAnotherCollectionIsRebuilt) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  EditManifest([](GraphManifest* m) { m->created_at_us += 1; });
  if (HasFatalFailure()) return;
  ExpectReopenLogsAndRebuilds(AllOf(HasSubstr("rebuilding"), HasSubstr("another collection")));
}

// A directory written before graphs were saved after each build: a v1
// manifest and "hnsw-l2.bin" beside the snapshot still load; the next save
// replaces them with v2 files.
TEST_F(GraphPersistenceTest, AVersion1ManifestStillLoads) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  ASSERT_OK_AND_ASSIGN(GraphManifest m, ReadGraphManifest(dir_));
  ASSERT_EQ(m.entries.size(), 1u);
  GraphManifestEntry e = m.entries[0];
  const std::string v1_path = GraphFilePath(dir_, Metric::kL2, 0);
  std::filesystem::rename(graph_path_, v1_path);
  ASSERT_OK(base::WriteFileAtomically(GraphManifestPath(dir_), V1Manifest(m.base_seq, e)));
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
    c->WaitForIndexes();
    EXPECT_EQ(builds_.load(), 0);
    EXPECT_EQ(c->Stats().graphs_loaded, 1u);
    ExpectHnswFindsEveryItem(*c, items_);
    ASSERT_OK(c->Upsert(RandomItems(kItems, 10, 24)).status());
  }
  // The close inserted the 10 rows and saved a v2 file.
  EXPECT_FALSE(std::filesystem::exists(v1_path));
  ASSERT_OK_AND_ASSIGN(std::string path, collection_test_util::SavedGraphPath(dir_, Metric::kL2));
  EXPECT_NE(path, v1_path);
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
  EXPECT_EQ(c->Stats().graphs_loaded, 1u);
  EXPECT_EQ(builds_.load(), 0);
}

// A graph save left half-done by a crash (a temp file, a newer graph file
// the manifest does not name yet) does not disturb the load; the next
// save removes the leftovers.
TEST_F(GraphPersistenceTest, LeftoversOfAnInterruptedSaveAreIgnoredAndRemoved) {
  CreateWithSavedGraph();
  if (HasFatalFailure()) return;
  const std::string torn = GraphFilePath(dir_, Metric::kL2, 99);
  ASSERT_OK(base::WriteFileAtomically(torn, graph_bytes_.substr(0, 100)));
  ASSERT_OK(base::WriteFileAtomically(torn + ".tmp.1.2", "partial"));
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(CountingOptions()));
    c->WaitForIndexes();
    EXPECT_EQ(builds_.load(), 0);
    ExpectHnswFindsEveryItem(*c, items_);
    ASSERT_OK(c->Upsert(RandomItems(kItems, 5, 25)).status());
  }
  EXPECT_FALSE(std::filesystem::exists(torn));
  EXPECT_FALSE(std::filesystem::exists(torn + ".tmp.1.2"));
}

// A dropped collection writes nothing at close.
TEST_F(GraphPersistenceTest, AnAbandonedCollectionSavesNothingAtClose) {
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir_)));
    ASSERT_OK(c->Upsert(items_).status());
    c->WaitForIndexes();
    ASSERT_OK(c->Upsert(RandomItems(kItems, 5, 26)).status());
    c->Abandon();
    std::filesystem::remove_all(dir_);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

}  // namespace
}  // namespace latentsearch::index

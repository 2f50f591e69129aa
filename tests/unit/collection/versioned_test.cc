// Versioned writes of a Collection (collection.h, "Versions"): the
// last-writer-wins order (versioning.h), convergence of replicas that get
// the same writes in any order and batching, persistence of versions and
// tombstones, files written before versions, ordered scans, and searches
// after versioned deletes.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/base/file.h"
#include "common/index/collection.h"
#include "common/index/versioning.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/collection/collection_test_util.h"
#include "tests/unit/collection/format_v1.h"

namespace latentsearch::index {
namespace {

using collection_test_util::kDim;
using collection_test_util::RandomItems;
using collection_test_util::SmallGraphConfig;
using collection_test_util::TestOptions;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One write, as a test describes it.
struct Write {
  std::string id;
  uint64_t version = 0;
  bool deleted = false;
  std::vector<float> vector;
  int32_t label = 0;
  std::string uri;
};

Write Up(const std::string& id, uint64_t version, float fill, int32_t label = 0,
         const std::string& uri = "u") {
  return {id, version, false, std::vector<float>(kDim, fill), label, uri};
}

Write Del(const std::string& id, uint64_t version) { return {id, version, true, {}, 0, ""}; }

VersionedWriteBatch BatchOf(const std::vector<Write>& writes) {
  VersionedWriteBatch b;
  for (const Write& w : writes) {
    if (w.deleted) {
      b.delete_ids.push_back(w.id);
      b.delete_versions.push_back(w.version);
    } else {
      b.upserts.metas.push_back({w.id, w.label, w.uri});
      b.upserts.vectors.insert(b.upserts.vectors.end(), w.vector.begin(), w.vector.end());
      b.upsert_versions.push_back(w.version);
    }
  }
  return b;
}

ApplyCounts Apply(Collection& c, const std::vector<Write>& writes) {
  absl::StatusOr<ApplyCounts> counts = c.ApplyVersioned(BatchOf(writes));
  EXPECT_OK(counts.status());
  return counts.ok() ? *counts : ApplyCounts{};
}

uint64_t Total(const ApplyCounts& c) {
  return c.inserted + c.replaced + c.deleted + c.not_found + c.superseded;
}

CollectionConfig ExactConfig() {
  CollectionConfig c = SmallGraphConfig("versioned");
  c.hnsw = false;
  return c;
}

std::unique_ptr<Collection> Create(const std::string& dir,
                                   const CollectionConfig& config = ExactConfig()) {
  absl::StatusOr<std::unique_ptr<Collection>> c = Collection::Create(config, TestOptions(dir));
  EXPECT_OK(c.status());
  return c.ok() ? std::move(*c) : nullptr;
}

std::unique_ptr<Collection> Reopen(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Collection>> c = Collection::Open(TestOptions(dir));
  EXPECT_OK(c.status());
  return c.ok() ? std::move(*c) : nullptr;
}

// Everything a replica holds, comparable with ==.
using Entry = std::tuple<std::string, uint64_t, bool, std::vector<float>, int32_t, std::string>;
std::vector<Entry> State(const Collection& c) {
  std::vector<Entry> out;
  for (const VersionedEntry& e : c.Scan("", SIZE_MAX, true, true)) {
    out.emplace_back(e.meta.id, e.version, e.deleted, e.vector, e.meta.label, e.meta.uri);
  }
  return out;
}

std::tuple<uint64_t, uint64_t, uint64_t, uint64_t> AsTuple(const ReplicaSummary& s) {
  return {s.item_count, s.tombstones, s.max_version, s.digest};
}

// The digest recomputed from a full scan.
uint64_t ScanDigest(const Collection& c) {
  uint64_t d = 0;
  for (const VersionedEntry& e : c.Scan("", SIZE_MAX, true, false)) {
    d ^= ReplicaEntryHash(e.meta.id, e.version, e.deleted);
  }
  return d;
}

std::vector<std::string> ScanIds(const Collection& c, const std::string& after, size_t limit,
                                 bool tombstones) {
  std::vector<std::string> ids;
  for (const VersionedEntry& e : c.Scan(after, limit, tombstones, false)) ids.push_back(e.meta.id);
  return ids;
}

TEST(CollectionVersioningTest, EntryHashIsStableAcrossBuildsAndDistinguishesItsFields) {
  // Pinned (computed from the definition in versioning.h by an independent
  // implementation): replicas in different processes and builds must agree.
  EXPECT_EQ(ReplicaEntryHash("id1", 7, false), 0x8282449694a84529ull);
  EXPECT_EQ(ReplicaEntryHash("", 0, true), 0x22b960263f762d0eull);
  EXPECT_NE(ReplicaEntryHash("id1", 7, false), ReplicaEntryHash("id1", 7, true));
  EXPECT_NE(ReplicaEntryHash("id1", 7, false), ReplicaEntryHash("id1", 8, false));
  EXPECT_NE(ReplicaEntryHash("id1", 7, false), ReplicaEntryHash("id2", 7, false));
}

TEST(CollectionVersioningTest, CompareWritesOrdersVersionThenDeleteThenBytesLabelUri) {
  const float one = 1.0f, two = 2.0f;
  WriteKey a{5, false, &one, 0, "u"};
  WriteKey b = a;
  EXPECT_EQ(CompareWrites(a, b, 1), 0);
  b.version = 6;
  EXPECT_LT(CompareWrites(a, b, 1), 0);
  b = a;
  b.deleted = true;
  EXPECT_LT(CompareWrites(a, b, 1), 0);
  EXPECT_EQ(CompareWrites(b, b, 1), 0);
  // Raw bytes, not numeric order: 1.0f is 00 00 80 3f, 2.0f is 00 00 00 40.
  b = a;
  b.vector = &two;
  EXPECT_EQ(CompareWrites(a, b, 1) > 0, std::memcmp(&one, &two, 4) > 0);
  b = a;
  b.label = -1;
  EXPECT_GT(CompareWrites(a, b, 1), 0);
  b = a;
  b.uri = "v";
  EXPECT_LT(CompareWrites(a, b, 1), 0);
}

TEST(CollectionVersionedTest, TheNewerWriteWinsAndTheOlderIsSuperseded) {
  TempDir tmp;
  auto c = Create(tmp.Join("c"));
  ApplyCounts n = Apply(*c, {Up("a", 5, 1.0f)});
  EXPECT_EQ(n.inserted, 1u);
  n = Apply(*c, {Up("a", 3, 2.0f)});
  EXPECT_EQ(n.superseded, 1u);
  EXPECT_EQ(c->GetVector("a")->at(0), 1.0f);
  n = Apply(*c, {Up("a", 7, 3.0f)});
  EXPECT_EQ(n.replaced, 1u);
  EXPECT_EQ(*c->VersionOf("a"), 7u);
  EXPECT_EQ(Apply(*c, {Del("a", 6)}).superseded, 1u);
  EXPECT_TRUE(c->GetVector("a").has_value());
  EXPECT_EQ(Apply(*c, {Del("a", 9)}).deleted, 1u);
  EXPECT_FALSE(c->GetVector("a").has_value());
  EXPECT_EQ(*c->VersionOf("a"), 9u);  // The tombstone's.
  EXPECT_EQ(Apply(*c, {Up("a", 8, 4.0f)}).superseded, 1u);
  EXPECT_FALSE(c->GetVector("a").has_value());
  EXPECT_EQ(Apply(*c, {Del("b", 1)}).not_found, 1u);
  EXPECT_EQ(Apply(*c, {Del("b", 2)}).not_found, 1u);  // A newer tombstone.
  EXPECT_EQ(*c->VersionOf("b"), 2u);
  ReplicaSummary s = c->Summary();
  EXPECT_EQ(s.item_count, 0u);
  EXPECT_EQ(s.tombstones, 2u);
  EXPECT_EQ(s.max_version, 9u);
  // An upsert over a tombstone is an insert and removes the tombstone.
  n = Apply(*c, {Up("a", 10, 5.0f)});
  EXPECT_EQ(n.inserted, 1u);
  EXPECT_EQ(c->GetVector("a")->at(0), 5.0f);
  s = c->Summary();
  EXPECT_EQ(s.item_count, 1u);
  EXPECT_EQ(s.tombstones, 1u);
  EXPECT_EQ(s.max_version, 10u);
  EXPECT_EQ(s.digest, ScanDigest(*c));
  EXPECT_EQ(s.digest, ReplicaEntryHash("a", 10, false) ^ ReplicaEntryHash("b", 2, true));
  EXPECT_FALSE(c->VersionOf("never").has_value());
  EXPECT_EQ(c->Stats().deleted_count, 2u);  // The slots of a@5 and a@7.
}

// At equal versions the outcome must not depend on which write came first.
TEST(CollectionVersionedTest, EqualVersionsTieBreakTheSameWayInBothOrders) {
  const std::vector<std::pair<Write, Write>> cases = {
      {Up("x", 4, 1.0f), Del("x", 4)},                       // the delete wins
      {Up("x", 4, 1.0f), Up("x", 4, 2.0f)},                  // vector bytes decide
      {Up("x", 4, 1.0f, 3), Up("x", 4, 1.0f, 2)},            // then the label
      {Up("x", 4, 1.0f, 3, "b"), Up("x", 4, 1.0f, 3, "a")},  // then the uri
  };
  TempDir tmp;
  int n = 0;
  for (const auto& [first, second] : cases) {
    auto ab = Create(tmp.Join("ab" + std::to_string(n)));
    auto ba = Create(tmp.Join("ba" + std::to_string(n++)));
    ApplyCounts c1 = Apply(*ab, {first});
    ApplyCounts c2 = Apply(*ab, {second});
    Apply(*ba, {second});
    Apply(*ba, {first});
    EXPECT_EQ(State(*ab), State(*ba)) << first.id << " case " << n;
    EXPECT_EQ(AsTuple(ab->Summary()), AsTuple(ba->Summary()));
    EXPECT_EQ(Total(c1) + Total(c2), 2u);
  }
  // The cases' winners, spelled out.
  TempDir t2;
  auto c = Create(t2.Join("c"));
  Apply(*c, {Del("d", 4)});
  EXPECT_EQ(Apply(*c, {Up("d", 4, 1.0f)}).superseded, 1u);
  const float one = 1.0f, two = 2.0f;
  const float bytes_winner = std::memcmp(&one, &two, 4) > 0 ? one : two;
  Apply(*c, {Up("v", 4, 1.0f), Up("w", 4, 2.0f)});
  Apply(*c, {Up("v", 4, 2.0f), Up("w", 4, 1.0f)});
  EXPECT_EQ(c->GetVector("v")->at(0), bytes_winner);
  EXPECT_EQ(c->GetVector("w")->at(0), bytes_winner);
  Apply(*c, {Up("l", 4, 1.0f, 3), Up("u", 4, 1.0f, 3, "b")});
  Apply(*c, {Up("l", 4, 1.0f, 2), Up("u", 4, 1.0f, 3, "a")});
  EXPECT_EQ(c->GetMeta("l")->label, 3);
  EXPECT_EQ(c->GetMeta("u")->uri, "b");
}

TEST(CollectionVersionedTest, ARedeliveryChangesNothingAndWritesNoLogRecord) {
  TempDir tmp;
  std::string dir = tmp.Join("c");
  auto c = Create(dir);
  std::vector<Write> writes = {Up("a", 3, 1.0f), Del("b", 4), Up("c", 5, 2.0f)};
  ApplyCounts first = Apply(*c, writes);
  EXPECT_EQ(first.inserted, 2u);
  EXPECT_EQ(first.not_found, 1u);
  ASSERT_OK_AND_ASSIGN(uint64_t log_bytes, base::FileSize(dir + "/wal.log"));
  ReplicaSummary before = c->Summary();
  ApplyCounts again = Apply(*c, writes);
  EXPECT_EQ(again.superseded, 3u);
  EXPECT_EQ(Total(again), 3u);
  EXPECT_EQ(AsTuple(c->Summary()), AsTuple(before));
  EXPECT_EQ(*base::FileSize(dir + "/wal.log"), log_bytes);
  EXPECT_EQ(c->Stats().deleted_count, 0u);
}

TEST(CollectionVersionedTest, AnIdRepeatedInOneBatchActsAsAnyOrderOfSingleWrites) {
  const std::vector<Write> writes = {Up("a", 3, 1.0f), Up("a", 5, 2.0f), Del("a", 4),
                                     Up("a", 5, 3.0f), Del("b", 2),      Up("b", 2, 1.0f)};
  TempDir tmp;
  auto batched = Create(tmp.Join("batched"));
  ApplyCounts counts = Apply(*batched, writes);
  EXPECT_EQ(counts.inserted, 1u);   // a@5 (the greater vector bytes)
  EXPECT_EQ(counts.not_found, 1u);  // b@2 delete beats the b@2 upsert
  EXPECT_EQ(counts.superseded, 4u);
  EXPECT_EQ(batched->Stats().deleted_count, 0u);  // One slot appended for a.
  std::vector<int> order = {0, 1, 2, 3, 4, 5};
  int n = 0;
  do {
    if (n % 37 != 0 && n != 719) {  // 20 of the 720 orders, first and last included.
      ++n;
      continue;
    }
    auto one_by_one = Create(tmp.Join("o" + std::to_string(n++)));
    for (int i : order) Apply(*one_by_one, {writes[i]});
    EXPECT_EQ(State(*one_by_one), State(*batched));
    EXPECT_EQ(AsTuple(one_by_one->Summary()), AsTuple(batched->Summary()));
  } while (std::next_permutation(order.begin(), order.end()));
}

// Random writes over few ids, versions and payloads (many ties), applied to
// several replicas in different orders and batchings: every replica ends
// with the same items, tombstones, versions and summary, and with what an
// independent model of last-writer-wins says.
class CollectionConvergenceTest : public ::testing::Test {
 protected:
  static std::vector<Write> RandomWrites(std::mt19937& rng, size_t n) {
    const std::vector<float> palette = {-1.0f, 0.5f, 2.0f};
    std::vector<Write> writes;
    for (size_t i = 0; i < n; ++i) {
      Write w;
      w.id = "id" + std::to_string(rng() % 40);
      w.version = 1 + rng() % 25;
      w.deleted = rng() % 10 < 3;
      if (!w.deleted) {
        w.vector.assign(kDim, palette[rng() % palette.size()]);
        w.vector[rng() % kDim] = palette[rng() % palette.size()];
        w.label = static_cast<int32_t>(rng() % 2);
        w.uri = rng() % 2 ? "a" : "b";
      }
      writes.push_back(std::move(w));
    }
    return writes;
  }

  // The model: per id the greatest (version, deleted, vector bytes, label,
  // uri) tuple.
  static std::vector<Entry> Model(const std::vector<Write>& writes) {
    using Key = std::tuple<uint64_t, bool, std::string, int32_t, std::string>;
    std::map<std::string, std::pair<Key, const Write*>> best;
    for (const Write& w : writes) {
      std::string bytes(reinterpret_cast<const char*>(w.vector.data()), w.vector.size() * 4);
      if (w.deleted) bytes.clear();
      Key k{w.version, w.deleted, bytes, w.deleted ? 0 : w.label, w.deleted ? "" : w.uri};
      auto it = best.find(w.id);
      if (it == best.end() || it->second.first < k) best[w.id] = {k, &w};
    }
    std::vector<Entry> out;
    for (const auto& [id, kw] : best) {
      const Write& w = *kw.second;
      out.emplace_back(id, w.version, w.deleted, w.deleted ? std::vector<float>() : w.vector,
                       w.deleted ? -1 : w.label, w.deleted ? "" : w.uri);
    }
    return out;
  }

  // Applies `writes` permuted by `rng` in random batches of 1..max_batch.
  static ApplyCounts ApplyShuffled(Collection& c, std::vector<Write> writes, std::mt19937& rng,
                                   size_t max_batch) {
    std::shuffle(writes.begin(), writes.end(), rng);
    ApplyCounts sum;
    for (size_t at = 0; at < writes.size();) {
      size_t size = std::min<size_t>(1 + rng() % max_batch, writes.size() - at);
      ApplyCounts n = Apply(c, std::vector<Write>(writes.begin() + at, writes.begin() + at + size));
      sum.inserted += n.inserted;
      sum.replaced += n.replaced;
      sum.deleted += n.deleted;
      sum.not_found += n.not_found;
      sum.superseded += n.superseded;
      at += size;
    }
    return sum;
  }
};

TEST_F(CollectionConvergenceTest, ReplicasEndIdenticalWhateverTheOrderAndBatching) {
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<Write> writes = RandomWrites(rng, 400);
    const std::vector<Entry> model = Model(writes);
    uint64_t model_digest = 0, model_max = 0;
    for (const auto& [id, version, deleted, v, label, uri] : model) {
      model_digest ^= ReplicaEntryHash(id, version, deleted);
      model_max = std::max(model_max, version);
    }
    TempDir tmp;
    for (size_t replica = 0; replica < 4; ++replica) {
      std::string dir = tmp.Join("r" + std::to_string(replica));
      auto c = Create(dir);
      const size_t max_batch = replica == 0 ? 1 : (replica == 1 ? 400 : 7 + 20 * replica);
      ApplyCounts counts = ApplyShuffled(*c, writes, rng, max_batch);
      EXPECT_EQ(Total(counts), writes.size());
      EXPECT_EQ(State(*c), model) << "seed " << seed << " replica " << replica;
      ReplicaSummary s = c->Summary();
      EXPECT_EQ(s.digest, model_digest);
      EXPECT_EQ(s.max_version, model_max);
      EXPECT_EQ(s.item_count + s.tombstones, model.size());
      EXPECT_EQ(s.item_count, c->Stats().item_count);
      if (replica != 2) continue;
      // Replay from the log, then from a snapshot, gives the same state.
      c.reset();
      c = Reopen(dir);
      EXPECT_EQ(State(*c), model);
      EXPECT_EQ(AsTuple(c->Summary()), AsTuple(s));
      ASSERT_OK(c->Snapshot().status());
      c.reset();
      c = Reopen(dir);
      EXPECT_EQ(State(*c), model);
      EXPECT_EQ(AsTuple(c->Summary()), AsTuple(s));
    }
  }
}

TEST(CollectionVersionedTest, VersionsAndTombstonesSurviveLogReplayAndSnapshots) {
  TempDir tmp;
  std::string dir = tmp.Join("c");
  std::vector<Entry> want;
  ReplicaSummary summary;
  {
    auto c = Create(dir);
    Apply(*c, {Up("a", 10, 1.0f), Up("b", 11, 2.0f), Up("c", 12, 3.0f), Del("z", 30)});
    ASSERT_OK(c->Upsert(RandomItems(0, 3, 1)).status());  // version 0
    ASSERT_OK(c->Snapshot().status());
    Apply(*c, {Del("b", 13), Up("c", 14, 4.0f), Del("c", 14), Up("d", 15, 5.0f)});
    want = State(*c);
    summary = c->Summary();
  }
  auto c = Reopen(dir);  // Snapshot, then the log.
  EXPECT_EQ(State(*c), want);
  EXPECT_EQ(AsTuple(c->Summary()), AsTuple(summary));
  EXPECT_EQ(summary.max_version, 30u);
  EXPECT_EQ(*c->VersionOf("c"), 14u);
  EXPECT_EQ(*c->VersionOf("id1"), 0u);
  // What was superseded before still is after the restart.
  EXPECT_EQ(Apply(*c, {Up("b", 12, 9.0f), Up("z", 29, 9.0f)}).superseded, 2u);
  ASSERT_OK_AND_ASSIGN(SnapshotInfoData info, c->Snapshot());
  EXPECT_EQ(info.items, 5u);  // a, d, id0..id2; tombstones are not items.
  ASSERT_OK_AND_ASSIGN(std::string bytes, base::ReadFile(Collection::SnapshotPath(dir)));
  EXPECT_EQ(bytes[8], 2);  // Snapshot format version 2.
  c.reset();
  c = Reopen(dir);
  EXPECT_EQ(State(*c), want);
  EXPECT_EQ(AsTuple(c->Summary()), AsTuple(summary));
  EXPECT_EQ(c->Summary().digest, ScanDigest(*c));
}

// A data dir written before versions existed: snapshot version 1 and a log
// of types 1 and 2.
TEST(CollectionVersionedTest, AVersion1DataDirOpensWithVersionZeroAndNoTombstones) {
  TempDir tmp;
  std::string dir = tmp.Join("old");
  ASSERT_OK(base::MakeDirs(dir));
  CollectionConfig config = ExactConfig();
  ItemBatch items = RandomItems(0, 6, 3);
  ASSERT_OK(base::WriteFileAtomically(Collection::SnapshotPath(dir),
                                      format_v1::Snapshot(config, 2, items)));
  ASSERT_OK(base::WriteFileAtomically(
      dir + "/wal.log", format_v1::LogHeader(kDim) +
                            format_v1::UpsertRecord(2, RandomItems(90, 1, 4)) +  // in the snapshot
                            format_v1::UpsertRecord(3, RandomItems(6, 2, 5)) +
                            format_v1::DeleteRecord(4, {"id1", "id6", "nope"})));
  auto c = Reopen(dir);
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(ScanIds(*c, "", 100, true), ElementsAre("id0", "id2", "id3", "id4", "id5", "id7"));
  ReplicaSummary s = c->Summary();
  EXPECT_EQ(s.item_count, 6u);
  EXPECT_EQ(s.tombstones, 0u);
  EXPECT_EQ(s.max_version, 0u);
  uint64_t digest = 0;
  for (const char* id : {"id0", "id2", "id3", "id4", "id5", "id7"}) {
    digest ^= ReplicaEntryHash(id, 0, false);
    EXPECT_EQ(*c->VersionOf(id), 0u);
  }
  EXPECT_EQ(s.digest, digest);
  EXPECT_EQ(*c->GetVector("id4"),
            std::vector<float>(items.vectors.begin() + 4 * kDim, items.vectors.begin() + 5 * kDim));
  // Any versioned write beats version 0; the next snapshot is version 2.
  EXPECT_EQ(Apply(*c, {Up("id0", 1, 1.0f), Del("id2", 1)}).replaced, 1u);
  ASSERT_OK(c->Snapshot().status());
  std::vector<Entry> want = State(*c);
  c.reset();
  c = Reopen(dir);
  EXPECT_EQ(State(*c), want);
  EXPECT_EQ(c->Summary().tombstones, 1u);
}

TEST(CollectionVersionedTest, ScanPagesInByteOrderAcrossTombstones) {
  TempDir tmp;
  auto c = Create(tmp.Join("c"));
  // Byte-wise: "B" < "a" < "b" < "b\x01" < "c" < "\xff".
  Apply(*c,
        {Up("c", 1, 1.0f), Up("B", 1, 1.0f), Up("\xff", 1, 1.0f), Del("b", 2), Up("b\x01", 1, 1.0f),
         Up("a", 1, 2.0f, 7, "uri-a"), Up("d", 1, 1.0f), Up("e", 1, 1.0f)});
  Apply(*c, {Del("d", 2), Del("nope", 3)});
  const std::vector<std::string> all = {"B", "a", "b", "b\x01", "c", "d", "e", "nope", "\xff"};
  const std::vector<std::string> live = {"B", "a", "b\x01", "c", "e", "\xff"};
  EXPECT_EQ(ScanIds(*c, "", 100, true), all);
  EXPECT_EQ(ScanIds(*c, "", 100, false), live);
  for (bool tombstones : {false, true}) {
    for (size_t page : {1, 2, 3, 4}) {
      std::vector<std::string> got;
      std::string after;
      while (true) {
        std::vector<std::string> ids = ScanIds(*c, after, page, tombstones);
        ASSERT_LE(ids.size(), page);
        got.insert(got.end(), ids.begin(), ids.end());
        if (ids.size() < page) break;
        after = ids.back();
      }
      EXPECT_EQ(got, tombstones ? all : live) << "page " << page;
    }
  }
  // after_id need not exist: entries strictly after it.
  EXPECT_THAT(ScanIds(*c, "b", 2, true), ElementsAre("b\x01", "c"));
  EXPECT_THAT(ScanIds(*c, "b", 2, false), ElementsAre("b\x01", "c"));
  EXPECT_THAT(ScanIds(*c, "bb", 2, true), ElementsAre("c", "d"));
  EXPECT_THAT(ScanIds(*c, "\xff", 5, true), ElementsAre());
  EXPECT_THAT(ScanIds(*c, "", 0, true), ElementsAre());
  // What an entry carries.
  std::vector<VersionedEntry> page = c->Scan("B", 2, true, true);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].meta.label, 7);
  EXPECT_EQ(page[0].meta.uri, "uri-a");
  EXPECT_EQ(page[0].vector, std::vector<float>(kDim, 2.0f));
  EXPECT_FALSE(page[0].deleted);
  EXPECT_EQ(page[1].meta.id, "b");
  EXPECT_TRUE(page[1].deleted);
  EXPECT_EQ(page[1].version, 2u);
  EXPECT_TRUE(page[1].vector.empty());
  EXPECT_EQ(page[1].meta.uri, "");
  EXPECT_TRUE(c->Scan("", 1, false, false)[0].vector.empty());
}

// Search results against a brute-force scan of what Scan says is live.
std::vector<std::string> BruteForce(const Collection& c, const float* q, Metric m, size_t k) {
  std::vector<std::pair<float, std::string>> d;
  for (const VersionedEntry& e : c.Scan("", SIZE_MAX, false, true)) {
    std::vector<float> a(q, q + kDim), b = e.vector;
    if (m == Metric::kCosine) {
      NormalizeRows(a.data(), 1, kDim);
      NormalizeRows(b.data(), 1, kDim);
    }
    d.emplace_back(ReferenceDistance(m, a.data(), b.data(), kDim), e.meta.id);
  }
  std::sort(d.begin(), d.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < std::min(k, d.size()); ++i) out.push_back(d[i].second);
  return out;
}

// Versioned deletes kill slots exactly like Delete: HNSW (built before and
// after them) and exact searches never return a tombstoned id, and HNSW
// still agrees with brute force.
TEST(CollectionVersionedTest, SearchesNeverReturnTombstonedIdsAndHnswStaysCorrect) {
  TempDir tmp;
  auto c = Create(tmp.Join("c"), SmallGraphConfig("hnsw"));
  ItemBatch items = RandomItems(0, 1500, 21);
  VersionedWriteBatch b;
  b.upserts = items;
  b.upsert_versions.assign(items.metas.size(), 5);
  ASSERT_OK(c->ApplyVersioned(b).status());
  c->WaitForIndexes();
  std::vector<Write> deletes;
  for (int i = 0; i < 1500; i += 3) deletes.push_back(Del("id" + std::to_string(i), 6));
  EXPECT_EQ(Apply(*c, deletes).deleted, 500u);
  EXPECT_EQ(c->Stats().deleted_count, 500u);
  for (int round = 0; round < 2; ++round) {
    size_t agree = 0, total = 0;
    for (Metric m : kAllMetrics) {
      for (int q = 0; q < 30; ++q) {
        const float* query = items.vectors.data() + q * 7 * kDim;
        for (bool hnsw : {false, true}) {
          SearchParams p;
          p.metric = m;
          p.hnsw = hnsw;
          p.k = 10;
          p.ef = 128;
          if (q % 4 == 0) p.labels = {1, 2};
          SearchResult r = c->Search(query, p);
          for (const Hit& h : r.hits) {
            EXPECT_NE(std::stoi(h.id.substr(2)) % 3, 0) << h.id << " is deleted";
            if (!p.labels.empty()) EXPECT_TRUE(h.label == 1 || h.label == 2);
          }
          if (!hnsw || !p.labels.empty()) continue;
          std::vector<std::string> exact = BruteForce(*c, query, m, 10);
          for (const Hit& h : r.hits) agree += std::count(exact.begin(), exact.end(), h.id);
          total += exact.size();
        }
      }
    }
    EXPECT_GE(static_cast<double>(agree) / total, 0.95) << "round " << round;
    c->WaitForIndexes();  // Round 2: graphs rebuilt without the dead slots.
  }
  EXPECT_FALSE(c->GetVector("id3").has_value());
  EXPECT_EQ(c->Summary().tombstones, 500u);
}

// Standalone servers use the unversioned writes: version 0, no tombstones.
TEST(CollectionVersionedTest, UnversionedWritesKeepNoTombstonesAndRecordVersionZero) {
  TempDir tmp;
  auto c = Create(tmp.Join("c"));
  ASSERT_OK(c->Upsert(RandomItems(0, 10, 2)).status());
  ASSERT_OK_AND_ASSIGN(uint64_t deleted, c->Delete({"id3", "id4", "missing"}));
  EXPECT_EQ(deleted, 2u);
  ReplicaSummary s = c->Summary();
  EXPECT_EQ(s.item_count, 8u);
  EXPECT_EQ(s.tombstones, 0u);
  EXPECT_EQ(s.max_version, 0u);
  EXPECT_EQ(s.digest, ScanDigest(*c));
  EXPECT_EQ(*c->VersionOf("id5"), 0u);
  EXPECT_FALSE(c->VersionOf("id3").has_value());
  // Unversioned upserts always apply, over newer items and tombstones too.
  Apply(*c, {Up("id5", 9, 1.0f), Del("t", 9)});
  ASSERT_OK(c->Upsert(BatchOf({Up("id5", 0, 2.0f), Up("t", 0, 2.0f)}).upserts).status());
  EXPECT_EQ(*c->VersionOf("id5"), 0u);
  EXPECT_EQ(*c->VersionOf("t"), 0u);
  EXPECT_EQ(c->Summary().tombstones, 0u);
  EXPECT_EQ(c->Summary().max_version, 9u);
  EXPECT_EQ(c->Summary().digest, ScanDigest(*c));
}

TEST(CollectionVersionedTest, AMalformedBatchIsInternalAndChangesNothing) {
  TempDir tmp;
  auto c = Create(tmp.Join("c"));
  VersionedWriteBatch b = BatchOf({Up("a", 1, 1.0f), Del("b", 1)});
  b.delete_versions.clear();
  EXPECT_THAT(c->ApplyVersioned(b),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("1 deletes with 0 versions")));
  EXPECT_EQ(c->Summary().item_count, 0u);
  ASSERT_OK_AND_ASSIGN(ApplyCounts none, c->ApplyVersioned(VersionedWriteBatch{}));
  EXPECT_EQ(Total(none), 0u);
}

// Scans and searches run while versioned writes land (under TSan via the
// collection test's 'tsan' label): every page is ascending.
TEST(CollectionVersionedConcurrencyTest, ScansDuringVersionedWritesSeeAscendingPages) {
  TempDir tmp;
  auto c = Create(tmp.Join("c"), SmallGraphConfig("hnsw"));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      std::vector<VersionedEntry> page = c->Scan("id1", 50, true, true);
      for (size_t i = 1; i < page.size(); ++i) {
        if (!(page[i - 1].meta.id < page[i].meta.id)) bad.fetch_add(1);
      }
      std::vector<float> q(kDim, 0.5f);
      SearchParams p;
      p.hnsw = true;
      c->Search(q.data(), p);
    }
  });
  std::mt19937 rng(9);
  for (uint64_t v = 1; v <= 40; ++v) {
    VersionedWriteBatch b;
    b.upserts = RandomItems(static_cast<int>(rng() % 300), 40, v);
    b.upsert_versions.assign(40, v);
    for (int i = 0; i < 10; ++i) {
      b.delete_ids.push_back("id" + std::to_string(rng() % 300));
      b.delete_versions.push_back(v);
    }
    EXPECT_OK(c->ApplyVersioned(b).status());
  }
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(c->Summary().digest, ScanDigest(*c));
}

}  // namespace
}  // namespace latentsearch::index

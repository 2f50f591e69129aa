#include "common/index/collection.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "common/base/file.h"
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
using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;

CollectionConfig Config() {
  CollectionConfig c = SmallGraphConfig("test");
  c.model_name = "default";
  c.model_version = 1;
  return c;
}

// The user-facing distance; ReferenceDistance expects normalised vectors for
// cosine (as the index stores them).
double Distance(Metric m, std::vector<float> a, std::vector<float> b) {
  if (m == Metric::kCosine) {
    NormalizeRows(a.data(), 1, kDim);
    NormalizeRows(b.data(), 1, kDim);
  }
  return ReferenceDistance(m, a.data(), b.data(), kDim);
}

// Brute force over `items` (id -> vector), the test's own oracle.
std::vector<std::string> BruteForce(
    const std::vector<std::pair<std::string, std::vector<float>>>& items,
    const std::vector<float>& q, Metric m, size_t k, const std::string& exclude = "") {
  std::vector<std::pair<double, std::string>> d;
  for (const auto& [id, v] : items) {
    if (id == exclude) continue;
    d.emplace_back(Distance(m, q, v), id);
  }
  std::sort(d.begin(), d.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < std::min(k, d.size()); ++i) out.push_back(d[i].second);
  return out;
}

std::vector<std::string> Ids(const SearchResult& r) {
  std::vector<std::string> ids;
  for (const Hit& h : r.hits) ids.push_back(h.id);
  return ids;
}

std::vector<std::pair<std::string, std::vector<float>>> AsPairs(const ItemBatch& b) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (size_t i = 0; i < b.metas.size(); ++i) {
    out.emplace_back(b.metas[i].id, std::vector<float>(b.vectors.begin() + i * kDim,
                                                       b.vectors.begin() + (i + 1) * kDim));
  }
  return out;
}

TEST(CollectionTest, ExactSearchMatchesBruteForceForEveryMetric) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  ItemBatch items = RandomItems(0, 300, 1);
  ASSERT_OK_AND_ASSIGN(UpsertCounts counts, c->Upsert(items));
  EXPECT_EQ(counts.inserted, 300u);
  auto pairs = AsPairs(items);
  ItemBatch queries = RandomItems(1000, 20, 2);
  for (Metric m : kAllMetrics) {
    for (size_t q = 0; q < 20; ++q) {
      std::vector<float> query(queries.vectors.begin() + q * kDim,
                               queries.vectors.begin() + (q + 1) * kDim);
      SearchParams p;
      p.metric = m;
      p.k = 7;
      SearchResult r = c->Search(query.data(), p);
      EXPECT_EQ(Ids(r), BruteForce(pairs, query, m, 7)) << MetricName(m) << " q" << q;
      for (const Hit& h : r.hits) {
        const auto& v = std::find_if(pairs.begin(), pairs.end(), [&](const auto& p) {
                          return p.first == h.id;
                        })->second;
        EXPECT_NEAR(h.distance, Distance(m, query, v), 1e-4 * (1 + std::abs(h.distance)));
      }
    }
  }
}

TEST(CollectionTest, BatchedExactSearchEqualsOneByOne) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  ASSERT_OK(c->Upsert(RandomItems(0, 400, 11)).status());
  ASSERT_OK(c->Delete({"id3", "id50"}).status());
  ItemBatch queries = RandomItems(1000, 33, 12);
  for (Metric m : kAllMetrics) {
    for (bool filter : {false, true}) {
      SearchParams p;
      p.metric = m;
      p.k = 9;
      if (filter) p.labels = {1, 3};
      std::vector<SearchResult> batch = c->SearchBatch(queries.vectors.data(), 33, p);
      ASSERT_EQ(batch.size(), 33u);
      for (size_t q = 0; q < 33; ++q) {
        SearchResult one = c->Search(queries.vectors.data() + q * kDim, p);
        EXPECT_EQ(Ids(batch[q]), Ids(one)) << MetricName(m) << " filter " << filter;
        for (size_t i = 0; i < one.hits.size(); ++i) {
          EXPECT_NEAR(batch[q].hits[i].distance, one.hits[i].distance,
                      1e-5 * (1 + one.hits[i].distance));
        }
      }
    }
  }
}

TEST(CollectionTest, EqualDistancesAreOrderedById) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  // Three items at the same distance from the origin, the greatest id in
  // the first slot (the indexes order ties by slot).
  ItemBatch items;
  for (const char* id : {"zz", "mm", "aa"}) items.metas.push_back({id, -1, ""});
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(kDim, 0.0f);
    v[i] = (i % 2 == 0) ? 1.0f : -1.0f;
    items.vectors.insert(items.vectors.end(), v.begin(), v.end());
  }
  ASSERT_OK(c->Upsert(items).status());
  std::vector<float> origin(kDim, 0.0f);
  for (Metric m : {Metric::kL1, Metric::kL2}) {
    SearchParams p;
    p.metric = m;
    p.k = 3;
    EXPECT_THAT(Ids(c->Search(origin.data(), p)), ElementsAre("aa", "mm", "zz"));
  }
}

TEST(CollectionTest, ReplaceDeleteFilterAndExcludeSelf) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  ASSERT_OK(c->Upsert(RandomItems(0, 100, 3)).status());
  // Replace id7 with a vector far away; delete id8.
  ItemBatch replace;
  replace.metas.push_back({"id7", 4, "new-uri"});
  replace.vectors.assign(kDim, 100.0f);
  ASSERT_OK_AND_ASSIGN(UpsertCounts counts, c->Upsert(replace));
  EXPECT_EQ(counts.replaced, 1u);
  ASSERT_OK_AND_ASSIGN(uint64_t deleted, c->Delete({"id8", "missing"}));
  EXPECT_EQ(deleted, 1u);
  CollectionStats stats = c->Stats();
  EXPECT_EQ(stats.item_count, 99u);
  EXPECT_EQ(stats.deleted_count, 2u);  // old id7 slot + id8
  EXPECT_FALSE(c->GetVector("id8").has_value());
  EXPECT_EQ(c->GetMeta("id7")->uri, "new-uri");

  std::vector<float> far(kDim, 100.0f);
  SearchParams p;
  p.k = 1;
  EXPECT_THAT(Ids(c->Search(far.data(), p)), ElementsAre("id7"));
  p.exclude_id = "id7";
  EXPECT_THAT(Ids(c->Search(far.data(), p)), ::testing::Not(ElementsAre("id7")));
  p.exclude_id = "";
  p.k = 200;
  p.labels = {2};
  SearchResult r = c->Search(far.data(), p);
  // Label 2: ids 2, 7, 12, ..., 97, less id7 (replaced with label 4).
  EXPECT_EQ(r.hits.size(), 19u);
  for (const Hit& h : r.hits) EXPECT_EQ(h.label, 2);
  for (const Hit& h : r.hits) EXPECT_NE(h.id, "id7");
}

TEST(CollectionTest, HnswAgreesWithExactAfterBuildAndWithFreshUpserts) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  ASSERT_OK(c->Upsert(RandomItems(0, 2000, 4)).status());
  c->WaitForIndexes();
  // Fresh items after the build are found through the exact delta.
  ItemBatch fresh = RandomItems(5000, 10, 5);
  ASSERT_OK(c->Upsert(fresh).status());
  size_t agree = 0, total = 0;
  for (Metric m : kAllMetrics) {
    for (size_t q = 0; q < 10; ++q) {
      const float* query = fresh.vectors.data() + q * kDim;
      SearchParams p;
      p.metric = m;
      p.k = 10;
      std::vector<std::string> exact = Ids(c->Search(query, p));
      p.hnsw = true;
      p.ef = 128;
      SearchResult h = c->Search(query, p);
      EXPECT_FALSE(h.exact_fallback);
      EXPECT_EQ(h.ef, 128u);
      ASSERT_FALSE(h.hits.empty());
      EXPECT_EQ(h.hits[0].id, fresh.metas[q].id);  // Itself, distance 0.
      for (const std::string& id : Ids(h)) {
        agree += std::count(exact.begin(), exact.end(), id);
      }
      total += exact.size();
    }
  }
  EXPECT_GE(static_cast<double>(agree) / total, 0.95);
}

TEST(CollectionTest, HnswBeforeAnyBuildFallsBackToExactAndSaysSo) {
  TempDir tmp;
  CollectionConfig config = Config();
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(config, TestOptions(tmp.Join("c"))));
  SearchParams p;
  p.hnsw = true;
  std::vector<float> q(kDim, 0.0f);
  SearchResult empty = c->Search(q.data(), p);
  EXPECT_TRUE(empty.hits.empty());
  EXPECT_TRUE(empty.exact_fallback);
}

// Options whose first `failures` HNSW builds fail (counted in *attempts),
// retried after `retry`; one metric (L2).
CollectionOptions FailingBuilds(const std::string& dir, std::atomic<int>* attempts, int failures,
                                absl::Duration retry) {
  CollectionOptions options = TestOptions(dir);
  options.before_build = [attempts, failures](Metric) {
    return ++*attempts <= failures ? absl::ResourceExhaustedError("injected: out of memory")
                                   : absl::OkStatus();
  };
  options.rebuild_retry_initial = retry;
  return options;
}

// The HNSW answer for the nearest neighbour of `query`.
SearchResult HnswNearest(const Collection& c, const float* query) {
  SearchParams p;
  p.hnsw = true;
  p.k = 1;
  return c.Search(query, p);
}

TEST(CollectionTest, AFailedBuildIsRetriedAfterABackOffNotAtOnce) {
  TempDir tmp;
  CollectionConfig config = Config();
  config.metrics = {Metric::kL2};
  std::atomic<int> attempts{0};
  // Every build fails; the back-off is longer than the test.
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(config, FailingBuilds(tmp.Join("c"), &attempts,
                                                                        1 << 30, absl::Hours(1))));
  ItemBatch items = RandomItems(0, 200, 6);
  ASSERT_OK(c->Upsert(items).status());
  c->WaitForIndexes();  // Returns once the builder is backing off.
  EXPECT_EQ(attempts.load(), 1);
  // More changes while backing off start no build: the builder is waiting
  // for its retry time (or the collection's end), not spinning.
  ASSERT_OK(c->Upsert(RandomItems(200, 200, 7)).status());
  c->WaitForIndexes();
  EXPECT_EQ(attempts.load(), 1);
  SearchResult r = HnswNearest(*c, items.vectors.data());
  EXPECT_TRUE(r.exact_fallback);
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].id, "id0");
}  // The destructor ends the back-off.

TEST(CollectionTest, AFailedBuildWithoutBackOffIsRetriedUntilItSucceeds) {
  TempDir tmp;
  CollectionConfig config = Config();
  config.metrics = {Metric::kL2};
  std::atomic<int> attempts{0};
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(config, FailingBuilds(tmp.Join("c"), &attempts, 2,
                                                                        absl::ZeroDuration())));
  ItemBatch items = RandomItems(0, 200, 8);
  ASSERT_OK(c->Upsert(items).status());
  c->WaitForIndexes();
  EXPECT_EQ(attempts.load(), 3);
  SearchResult r = HnswNearest(*c, items.vectors.data());
  EXPECT_FALSE(r.exact_fallback);
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].id, "id0");
}

TEST(CollectionTest, SurvivesReopenFromLogAndFromSnapshot) {
  TempDir tmp;
  std::string dir = tmp.Join("c");
  ItemBatch items = RandomItems(0, 50, 6);
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir)));
    ASSERT_OK(c->Upsert(items).status());
    ASSERT_OK(c->Delete({"id3"}).status());
  }
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(TestOptions(dir)));
    EXPECT_EQ(c->Stats().item_count, 49u);
    EXPECT_FALSE(c->GetVector("id3").has_value());
    EXPECT_EQ(*c->GetVector("id4"), std::vector<float>(items.vectors.begin() + 4 * kDim,
                                                       items.vectors.begin() + 5 * kDim));
    ASSERT_OK_AND_ASSIGN(SnapshotInfoData info, c->Snapshot());
    EXPECT_EQ(info.items, 49u);
    ASSERT_OK(c->Upsert(RandomItems(100, 5, 7)).status());
  }
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(TestOptions(dir)));
  EXPECT_EQ(c->Stats().item_count, 54u);
  EXPECT_EQ(c->Stats().deleted_count, 0u);  // Compacted by the snapshot.
  EXPECT_EQ(c->config().model_version, 1u);
  EXPECT_TRUE(c->GetVector("id102").has_value());
}

TEST(CollectionTest, SnapshotSavesGraphsThatARestartLoadsInsteadOfRebuilding) {
  TempDir tmp;
  std::string dir = tmp.Join("c");
  ItemBatch items = RandomItems(0, 600, 9);
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(dir)));
    ASSERT_OK(c->Upsert(items).status());
    c->WaitForIndexes();
    ASSERT_OK(c->Snapshot().status());
  }
  SearchParams p;
  p.hnsw = true;
  p.metric = Metric::kCosine;
  p.k = 5;
  {
    ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(TestOptions(dir)));
    // Served from the loaded graph at once: no fallback, no rebuild pending.
    SearchResult r = c->Search(items.vectors.data(), p);
    EXPECT_FALSE(r.exact_fallback);
    ASSERT_FALSE(r.hits.empty());
    EXPECT_EQ(r.hits[0].id, "id0");
    for (const IndexStatsEntry& e : c->Stats().indexes) {
      if (e.hnsw) {
        EXPECT_EQ(e.state, IndexState::kReady);
      }
    }
  }
  // A damaged graph file is ignored (checksum) and rebuilt.
  ASSERT_OK_AND_ASSIGN(std::string path,
                       collection_test_util::SavedGraphPath(dir, Metric::kCosine));
  ASSERT_OK_AND_ASSIGN(std::string g, base::ReadFile(path));
  g[g.size() / 2] ^= 0x40;
  ASSERT_OK(base::WriteFileAtomically(path, g));
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Open(TestOptions(dir)));
  c->WaitForIndexes();
  SearchResult r = c->Search(items.vectors.data(), p);
  EXPECT_FALSE(r.exact_fallback);
  EXPECT_EQ(r.hits[0].id, "id0");
}

TEST(CollectionTest, CreateTwiceIsAlreadyExists) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  EXPECT_THAT(Collection::Create(Config(), TestOptions(tmp.Join("c"))),
              ::latentsearch::testing::StatusIs(absl::StatusCode::kAlreadyExists,
                                                ::testing::HasSubstr("already exists")));
}

// Searches (exact and HNSW) run while upserts and rebuilds happen; every
// search answers k items (run under TSan via the 'tsan' label).
TEST(CollectionConcurrencyTest, SearchesDuringUpsertsAndRebuilds) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto c, Collection::Create(Config(), TestOptions(tmp.Join("c"))));
  ASSERT_OK(c->Upsert(RandomItems(0, 500, 8)).status());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, searches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      ItemBatch q = RandomItems(0, 1, 100 + t);
      while (!done.load()) {
        SearchParams p;
        p.metric = kAllMetrics[searches.load() % 3];
        p.hnsw = (searches.load() % 2) == 0;
        p.k = 10;
        SearchResult r = c->Search(q.vectors.data(), p);
        if (r.hits.size() != 10) bad.fetch_add(1);
        searches.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(c->Upsert(RandomItems(1000 + i * 60, 60, 200 + i)).status());
    ASSERT_OK(c->Delete({"id" + std::to_string(i)}).status());
  }
  c->WaitForIndexes();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(c->Stats().item_count, 500u + 20 * 60 - 20);
}

}  // namespace
}  // namespace latentsearch::index

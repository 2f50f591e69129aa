// RouterCore over FakeNodes (fake_node.h) and an in-memory placement store:
// creating collections (placement spread and its errors), writes reaching
// every replica with the acknowledgement rule per consistency level, a
// failed replica told to resync and left out of reads, searches equal to a
// standalone SearchCore holding the same items (exact L2, L1, cosine; item
// queries with exclude_self), retries and hedges on failed or stalled
// replicas, partial answers against UNAVAILABLE naming the shard, ListItems
// paging across shards against one node's paging, totals, status and
// rebalance. No sleeps: the fake nodes make their replicas when they are
// polled, and the tests refresh the router by hand.
#include "services/search/cluster/router_core.h"

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/cluster/shard_hash.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/search/search_core.h"
#include "tests/unit/search/cluster/router_test_cluster.h"

namespace latentsearch::search::cluster::testing {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using Mode = FakeNode::Mode;

constexpr uint32_t kDim = 8;

v1::CreateCollectionRequest Spec(const std::string& name, uint32_t shards, uint32_t rf,
                                 v1::ConsistencyLevel level = v1::CONSISTENCY_LEVEL_UNSPECIFIED) {
  v1::CreateCollectionRequest r;
  r.set_name(name);
  r.set_dim(kDim);
  r.mutable_model()->set_name("m");
  r.mutable_model()->set_version(3);
  r.set_shards(shards);
  r.set_replication_factor(rf);
  r.set_write_consistency(level);
  return r;
}

// `n` seeded random items "item-0000".. with labels 0..4.
std::vector<v1::Item> Items(int n, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<v1::Item> items(n);
  for (int i = 0; i < n; ++i) {
    items[i].set_id(absl::StrCat("item-", 1000 + i));
    items[i].set_label(i % 5);
    items[i].set_uri(absl::StrCat("file:", i));
    for (uint32_t d = 0; d < kDim; ++d) items[i].add_vector(normal(rng));
  }
  return items;
}

// `items` as Upsert messages of at most `per_message` items.
std::vector<v1::UpsertRequest> Messages(
    const std::string& collection, const std::vector<v1::Item>& items, int per_message = 64,
    v1::ConsistencyLevel level = v1::CONSISTENCY_LEVEL_UNSPECIFIED) {
  std::vector<v1::UpsertRequest> out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i % per_message == 0) {
      out.emplace_back();
      if (out.size() == 1) {
        out.back().set_collection(collection);
        out.back().set_consistency(level);
      }
    }
    *out.back().add_items() = items[i];
  }
  return out;
}

v1::SearchRequest VectorQuery(const std::string& collection, const v1::Item& like, uint32_t k,
                              v1::Metric metric = v1::METRIC_L2) {
  v1::SearchRequest q;
  q.set_collection(collection);
  *q.mutable_vector()->mutable_values() = like.vector();
  // Off the item itself, so distances are not all 0.
  q.mutable_vector()->set_values(0, like.vector(0) + 0.25f);
  q.set_k(k);
  q.set_metric(metric);
  return q;
}

// Encodes every image as `embedding`, inline, and counts the calls; NOT_FOUND
// when `missing` (the encoder no longer holds the version).
class InlineEncoder final : public EncoderClient {
 public:
  void Encode(const v1::EncodeRequest& request, absl::Time, Cancellation*,
              EncodeDone done) override {
    ++calls;
    models.push_back(request.model());
    if (missing) return done(absl::NotFoundError("no such version"));
    v1::EncodeResponse r;
    *r.add_embeddings()->mutable_values() = embedding;
    done(std::move(r));
  }

  google::protobuf::RepeatedField<float> embedding;
  bool missing = false;
  int calls = 0;
  std::vector<v1::ModelRef> models;
};

class RouterCoreTest : public ::testing::Test {
 protected:
  void StartCluster(int nodes, FakeNode::Options node_options = {}) {
    store_ = std::make_shared<MemoryStore>();
    ASSERT_OK_AND_ASSIGN(cluster_, TestCluster::Start(nodes, store_, nullptr, node_options));
    ASSERT_OK_AND_ASSIGN(router_, cluster_->Router());
  }

  // The nodes that hold a replica of (collection, shard) per the placement.
  std::vector<std::string> ReplicaNodes(const std::string& collection, uint32_t shard) {
    auto stored = store_->ReadPlacement(collection);
    std::vector<std::string> out;
    if (!stored.ok() || !stored->has_value()) return out;
    for (const auto& r : (*stored)->placement.shards(shard).replicas()) out.push_back(r.node());
    return out;
  }

  // A standalone SearchCore holding `items` in collection `name`.
  std::unique_ptr<SearchCore> Standalone(const std::string& name,
                                         const std::vector<v1::Item>& items) {
    SearchCoreOptions options;
    options.collections.data_dir = standalone_dir_.path();
    options.collections.num_threads = 1;
    auto core = SearchCore::Create(options);
    EXPECT_OK(core);
    v1::CreateCollectionRequest spec = Spec(name, 0, 0);
    EXPECT_OK((*core)->CreateCollection(spec));
    auto stream = (*core)->NewUpsertStream();
    for (const v1::UpsertRequest& m : Messages(name, items)) EXPECT_OK(stream->Add(m));
    EXPECT_OK(stream->Finish());
    return *std::move(core);
  }

  v1::SearchResponse StandaloneSearch(SearchCore& core, const v1::SearchRequest& q) {
    v1::SearchResponse out;
    absl::Status status;
    core.Search(q, absl::InfiniteFuture(), nullptr, &out,
                [&](const absl::Status& s) { status = s; });
    EXPECT_OK(status);
    return out;
  }

  static void ExpectSameNeighbors(const v1::SearchResponse& got, const v1::SearchResponse& want) {
    ASSERT_EQ(got.neighbors_size(), want.neighbors_size());
    for (int i = 0; i < got.neighbors_size(); ++i) {
      EXPECT_EQ(got.neighbors(i).id(), want.neighbors(i).id()) << "rank " << i;
      EXPECT_NEAR(got.neighbors(i).distance(), want.neighbors(i).distance(),
                  1e-4 * std::max(1.0f, std::abs(want.neighbors(i).distance())))
          << "rank " << i;
      EXPECT_EQ(got.neighbors(i).label(), want.neighbors(i).label());
      EXPECT_EQ(got.neighbors(i).uri(), want.neighbors(i).uri());
    }
  }

  TempDir standalone_dir_;
  std::shared_ptr<MemoryStore> store_;
  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<RouterCore> router_;
};

TEST_F(RouterCoreTest, CreatePlacesReplicasOnDistinctNodesAndWaitsForThem) {
  StartCluster(3);
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo info, Create(*router_, Spec("c", 4, 2)));
  EXPECT_EQ(info.shards(), 4u);
  EXPECT_EQ(info.replication_factor(), 2u);
  EXPECT_EQ(info.write_consistency(), v1::CONSISTENCY_LEVEL_QUORUM);
  EXPECT_EQ(info.metrics_size(), 3);
  EXPECT_EQ(info.hnsw().m(), 16u);
  std::map<std::string, int> load;
  for (uint32_t shard = 0; shard < 4; ++shard) {
    std::vector<std::string> nodes = ReplicaNodes("c", shard);
    ASSERT_EQ(nodes.size(), 2u);
    EXPECT_NE(nodes[0], nodes[1]);
    for (const std::string& n : nodes) {
      ++load[n];
      // Create returned only once every replica was present.
      EXPECT_TRUE(cluster_->NodeAt(n)->Holds("c", shard)) << n << " shard " << shard;
    }
  }
  ASSERT_EQ(load.size(), 3u);
  for (const auto& [node, replicas] : load) EXPECT_GE(replicas, 2) << node;
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo got, Get(*router_, "c"));
  EXPECT_EQ(got.shards(), 4u);
  EXPECT_EQ(got.item_count(), 0u);
  ASSERT_OK_AND_ASSIGN(v1::ListCollectionsResponse list, List(*router_));
  ASSERT_EQ(list.collections_size(), 1);
  EXPECT_EQ(list.collections(0).name(), "c");
}

TEST_F(RouterCoreTest, CreateRefusesWhatCannotBePlaced) {
  StartCluster(2);
  EXPECT_THAT(Create(*router_, Spec("c", 1, 3)),
              StatusIs(Code::kFailedPrecondition, AllOf(HasSubstr("3"), HasSubstr("2"))));
  EXPECT_THAT(Create(*router_, Spec("c", 300, 1)),
              StatusIs(Code::kInvalidArgument, HasSubstr("allowed 1..256")));
  EXPECT_THAT(Create(*router_, Spec("c", 1, 9)),
              StatusIs(Code::kInvalidArgument, HasSubstr("allowed 1..7")));
  EXPECT_THAT(Create(*router_, Spec("c", 1, 1, static_cast<v1::ConsistencyLevel>(9))),
              StatusIs(Code::kInvalidArgument, HasSubstr("write_consistency value 9")));
  v1::CreateCollectionRequest bad_dim = Spec("c", 1, 1);
  bad_dim.set_dim(0);
  EXPECT_THAT(Create(*router_, bad_dim), StatusIs(Code::kInvalidArgument, HasSubstr("dim 0")));
  // A node the placement needs does not answer: nothing is created.
  cluster_->node(1).SetDown(true);
  EXPECT_THAT(Create(*router_, Spec("c", 2, 2)),
              StatusIs(Code::kUnavailable,
                       AllOf(HasSubstr(cluster_->node(1).address()), HasSubstr("nothing"))));
  ASSERT_OK_AND_ASSIGN(v1::ListCollectionsResponse list, List(*router_));
  EXPECT_EQ(list.collections_size(), 0);
  EXPECT_THAT(Get(*router_, "c"), StatusIs(Code::kNotFound, HasSubstr("'c'")));
}

TEST_F(RouterCoreTest, ExistingCollectionIsAnsweredOrRefusedNamingBothSettings) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 2, 2)));
  v1::CreateCollectionRequest again = Spec("c", 2, 2);
  EXPECT_THAT(Create(*router_, again), StatusIs(Code::kAlreadyExists, HasSubstr("if_not_exists")));
  again.set_if_not_exists(true);
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo info, Create(*router_, again));
  EXPECT_EQ(info.shards(), 2u);
  v1::CreateCollectionRequest other = Spec("c", 3, 2);
  other.set_if_not_exists(true);
  EXPECT_THAT(Create(*router_, other),
              StatusIs(Code::kAlreadyExists,
                       AllOf(HasSubstr("2 shards x 2 replicas"), HasSubstr("3 shards x 2"))));
}

TEST_F(RouterCoreTest, ConcurrentCreatesThroughTwoRoutersOneWins) {
  StartCluster(3);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RouterCore> second, cluster_->Router());
  absl::StatusOr<v1::CollectionInfo> a, b;
  std::thread t1([&] { a = Create(*router_, Spec("c", 2, 2)); });
  std::thread t2([&] { b = Create(*second, Spec("c", 4, 1)); });
  t1.join();
  t2.join();
  ASSERT_NE(a.ok(), b.ok()) << a.status() << " / " << b.status();
  const absl::Status& loser = a.ok() ? b.status() : a.status();
  EXPECT_THAT(loser, StatusIs(Code::kAlreadyExists, HasSubstr("this request asks for")));
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo info, Get(*second, "c"));
  EXPECT_EQ(info.shards(), a.ok() ? 2u : 4u);
}

TEST_F(RouterCoreTest, WritesReachEveryReplicaOfTheirShard) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 3, 2)));
  const std::vector<v1::Item> items = Items(100);
  ASSERT_OK_AND_ASSIGN(v1::UpsertResponse r, Upsert(*router_, Messages("c", items, 30)));
  EXPECT_EQ(r.upserted(), 100u);
  EXPECT_EQ(r.inserted(), 100u);
  EXPECT_EQ(r.replaced(), 0u);
  EXPECT_EQ(r.item_count(), 100u);
  for (uint32_t shard = 0; shard < 3; ++shard) {
    std::set<std::string> want;
    for (const v1::Item& item : items) {
      if (::latentsearch::cluster::ShardOf(item.id(), 3) == shard) want.insert(item.id());
    }
    std::map<std::string, FakeNode::Entry> first;
    for (const std::string& node : ReplicaNodes("c", shard)) {
      std::map<std::string, FakeNode::Entry> entries = cluster_->NodeAt(node)->Entries("c", shard);
      std::set<std::string> got;
      for (const auto& [id, e] : entries) got.insert(id);
      EXPECT_EQ(got, want) << node << " shard " << shard;
      if (first.empty()) first = entries;
      for (const auto& [id, e] : entries) EXPECT_EQ(e.version, first[id].version) << id;
    }
  }
  // Replacing and deleting.
  ASSERT_OK_AND_ASSIGN(r, Upsert(*router_, Messages("c", Items(10))));
  EXPECT_EQ(r.replaced(), 10u);
  EXPECT_EQ(r.item_count(), 100u);
  v1::DeleteRequest del;
  del.set_collection("c");
  del.add_ids("item-1000");
  del.add_ids("item-1001");
  del.add_ids("nope");
  ASSERT_OK_AND_ASSIGN(v1::DeleteResponse d, Delete(*router_, del));
  EXPECT_EQ(d.deleted(), 2u);
  EXPECT_EQ(d.not_found(), 1u);
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo info, Get(*router_, "c"));
  EXPECT_EQ(info.item_count(), 98u);
}

TEST_F(RouterCoreTest, AcknowledgementFollowsTheConsistencyLevel) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 1, 3)));  // Every node holds the shard.
  cluster_->node(2).SetWrites(Mode::kRefuse);
  const std::vector<v1::Item> items = Items(4);
  EXPECT_OK(Upsert(*router_, Messages("c", items)));  // QUORUM: 2 of 3.
  EXPECT_OK(Upsert(*router_, Messages("c", items, 64, v1::CONSISTENCY_LEVEL_ONE)));
  EXPECT_THAT(
      Upsert(*router_, Messages("c", items, 64, v1::CONSISTENCY_LEVEL_ALL)),
      StatusIs(Code::kUnavailable,
               AllOf(HasSubstr("of 3 replicas acknowledged"), HasSubstr("all needs 3"),
                     HasSubstr(cluster_->node(2).address()), HasSubstr("partially applied"))));
  cluster_->node(1).SetWrites(Mode::kRefuse);
  EXPECT_THAT(Upsert(*router_, Messages("c", items)),
              StatusIs(Code::kUnavailable, HasSubstr("quorum needs 2")));
  EXPECT_OK(Upsert(*router_, Messages("c", items, 64, v1::CONSISTENCY_LEVEL_ONE)));
  v1::DeleteRequest del;
  del.set_collection("c");
  del.add_ids(items[0].id());
  EXPECT_THAT(Delete(*router_, del),
              StatusIs(Code::kUnavailable, HasSubstr("of 3 replicas acknowledged")));
  del.set_consistency(v1::CONSISTENCY_LEVEL_ONE);
  EXPECT_OK(Delete(*router_, del));
}

TEST_F(RouterCoreTest, CollectionDefaultLevelAppliesUnlessTheRequestOverridesIt) {
  StartCluster(2);
  ASSERT_OK(Create(*router_, Spec("c", 1, 2, v1::CONSISTENCY_LEVEL_ALL)));
  cluster_->node(0).SetWrites(Mode::kRefuse);
  EXPECT_THAT(Upsert(*router_, Messages("c", Items(2))),
              StatusIs(Code::kUnavailable, HasSubstr("all needs 2")));
  EXPECT_OK(Upsert(*router_, Messages("c", Items(2), 64, v1::CONSISTENCY_LEVEL_ONE)));
}

TEST_F(RouterCoreTest, FailedReplicaIsToldToResyncAndNotReadUntilItHas) {
  StartCluster(2);
  ASSERT_OK(Create(*router_, Spec("c", 1, 2)));
  FakeNode& bad = cluster_->node(1);
  bad.SetWrites(Mode::kRefuse);
  const std::vector<v1::Item> items = Items(20);
  ASSERT_OK(Upsert(*router_, Messages("c", items, 64, v1::CONSISTENCY_LEVEL_ONE)));
  bad.AwaitResyncs("c", 0, 1);
  EXPECT_TRUE(router_->view().IsSuspect("c", 0, bad.address()));
  // Reads go to the good replica only.
  ASSERT_OK(router_->Refresh());
  for (int i = 0; i < 4; ++i) ASSERT_OK(Search(*router_, VectorQuery("c", items[i], 3)));
  EXPECT_EQ(bad.Calls("SearchShard"), 0);
  // Once the node reports it caught up, it is read again. (The router
  // learns that the node took the Resync from its answer, which may arrive
  // after the node counted it: until then each refresh sends it again.)
  bad.SetWrites(Mode::kServe);
  for (int i = 0; i < 1000 && router_->view().IsSuspect("c", 0, bad.address()); ++i) {
    bad.FinishCatchUp("c", 0);
    ASSERT_OK(router_->Refresh());
  }
  EXPECT_FALSE(router_->view().IsSuspect("c", 0, bad.address()));
}

TEST_F(RouterCoreTest, ReplicaThatDoesNotFinishAWriteInTimeIsToldToResync) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 1, 3)));
  FakeNode& slow = cluster_->node(0);
  slow.SetWrites(Mode::kHold);
  // QUORUM is met by the two others; the held call is cancelled one refresh
  // interval later and the replica told to resync.
  ASSERT_OK(Upsert(*router_, Messages("c", Items(5))));
  slow.AwaitResyncs("c", 0, 1);
  EXPECT_TRUE(router_->view().IsSuspect("c", 0, slow.address()));
}

TEST_F(RouterCoreTest, SearchesMergeToTheSingleNodeAnswer) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 3, 2)));
  const std::vector<v1::Item> items = Items(300);
  ASSERT_OK(Upsert(*router_, Messages("c", items)));
  std::unique_ptr<SearchCore> standalone = Standalone("c", items);
  for (v1::Metric metric : {v1::METRIC_L2, v1::METRIC_L1, v1::METRIC_COSINE}) {
    for (int i : {0, 17, 123, 299}) {
      v1::SearchRequest q = VectorQuery("c", items[i], 10, metric);
      ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, q));
      ExpectSameNeighbors(got, StandaloneSearch(*standalone, q));
      EXPECT_EQ(got.metric(), metric);
      EXPECT_FALSE(got.partial());
      EXPECT_EQ(got.model().version(), 3u);
      q.add_labels(2);
      q.add_labels(4);
      ASSERT_OK_AND_ASSIGN(got, Search(*router_, q));
      ExpectSameNeighbors(got, StandaloneSearch(*standalone, q));
    }
  }
  v1::SearchBatchRequest batch;
  batch.set_collection("c");
  for (int i = 0; i < 5; ++i) *batch.add_queries() = VectorQuery("", items[i * 7], 4 + i);
  ASSERT_OK_AND_ASSIGN(v1::SearchBatchResponse got, SearchBatch(*router_, batch));
  ASSERT_EQ(got.results_size(), 5);
  for (int i = 0; i < 5; ++i) {
    v1::SearchRequest q = batch.queries(i);
    q.set_collection("c");
    ExpectSameNeighbors(got.results(i), StandaloneSearch(*standalone, q));
  }
}

TEST_F(RouterCoreTest, ItemQueriesFetchTheVectorAndCanExcludeTheItem) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 3, 1)));
  const std::vector<v1::Item> items = Items(120);
  ASSERT_OK(Upsert(*router_, Messages("c", items)));
  std::unique_ptr<SearchCore> standalone = Standalone("c", items);
  for (bool exclude : {false, true}) {
    for (int i : {3, 77}) {
      v1::SearchRequest q;
      q.set_collection("c");
      q.set_item_id(items[i].id());
      q.set_k(6);
      q.set_exclude_self(exclude);
      ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, q));
      ExpectSameNeighbors(got, StandaloneSearch(*standalone, q));
      ASSERT_EQ(got.neighbors_size(), 6);
      EXPECT_EQ(got.neighbors(0).id() == items[i].id(), !exclude);
    }
  }
  v1::SearchRequest missing;
  missing.set_collection("c");
  missing.set_item_id("nope");
  EXPECT_THAT(Search(*router_, missing),
              StatusIs(Code::kNotFound, HasSubstr("no item 'nope' in collection 'c'")));
}

TEST_F(RouterCoreTest, FailedOrStalledReplicaIsRetriedOnAnother) {
  StartCluster(2);
  absl::Mutex mu;
  std::vector<ShardReadStats> stats;
  RouterCoreOptions options = cluster_->RouterOptions();
  options.on_shard_read = [&](const ShardReadStats& s) {
    absl::MutexLock lock(&mu);
    stats.push_back(s);
  };
  ASSERT_OK_AND_ASSIGN(router_, RouterCore::Create(options));
  ASSERT_OK(Create(*router_, Spec("c", 1, 2)));
  const std::vector<v1::Item> items = Items(50);
  ASSERT_OK(Upsert(*router_, Messages("c", items)));
  std::unique_ptr<SearchCore> standalone = Standalone("c", items);
  const v1::SearchRequest q = VectorQuery("c", items[5], 5);
  const v1::SearchResponse want = StandaloneSearch(*standalone, q);
  for (Mode mode : {Mode::kRefuse, Mode::kHold}) {
    cluster_->node(0).SetReads(mode);
    // Every search answers whichever replica the rotation tries first.
    for (int i = 0; i < 4; ++i) {
      ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, q));
      ExpectSameNeighbors(got, want);
    }
    EXPECT_GT(cluster_->node(0).Calls("SearchShard"), 0);
    cluster_->node(0).SetReads(Mode::kServe);
  }
  absl::MutexLock lock(&mu);
  int retried = 0, hedged = 0;
  for (const ShardReadStats& s : stats) {
    EXPECT_EQ(s.collection, "c");
    EXPECT_STREQ(s.rpc, "SearchShard");
    EXPECT_EQ(s.code, absl::StatusCode::kOk);
    retried += s.attempts == 2 && !s.hedged;
    hedged += s.attempts == 2 && s.hedged;
  }
  EXPECT_EQ(stats.size(), 8u);
  EXPECT_GE(retried, 1);
  EXPECT_GE(hedged, 1);
}

TEST_F(RouterCoreTest, ShardWithoutAnsweringReplicaFailsUnlessPartialIsAllowed) {
  StartCluster(2);
  ASSERT_OK(Create(*router_, Spec("c", 2, 1)));
  const std::vector<v1::Item> items = Items(40);
  ASSERT_OK(Upsert(*router_, Messages("c", items)));
  const std::string down = ReplicaNodes("c", 1)[0];
  cluster_->NodeAt(down)->SetReads(Mode::kRefuse);
  v1::SearchRequest q = VectorQuery("c", items[0], 40);
  EXPECT_THAT(
      Search(*router_, q),
      StatusIs(Code::kUnavailable, AllOf(HasSubstr("shard 1 of collection 'c'"), HasSubstr(down))));
  q.set_allow_partial(true);
  ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, q));
  EXPECT_TRUE(got.partial());
  EXPECT_THAT(got.missing_shards(), ::testing::ElementsAre(1u));
  for (const v1::Neighbor& n : got.neighbors()) {
    EXPECT_EQ(::latentsearch::cluster::ShardOf(n.id(), 2), 0u) << n.id();
  }
  v1::SearchBatchRequest batch;
  batch.set_collection("c");
  batch.set_allow_partial(true);
  *batch.add_queries() = VectorQuery("", items[1], 3);
  ASSERT_OK_AND_ASSIGN(v1::SearchBatchResponse b, SearchBatch(*router_, batch));
  EXPECT_TRUE(b.results(0).partial());
}

TEST_F(RouterCoreTest, ListItemsPagesAcrossShardsAsOneNodeDoes) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 3, 2)));
  std::vector<v1::Item> items = Items(53);
  ASSERT_OK(Upsert(*router_, Messages("c", items)));
  std::unique_ptr<SearchCore> standalone = Standalone("c", items);
  v1::ListItemsRequest r;
  r.set_collection("c");
  r.set_page_size(7);
  r.set_include_vectors(true);
  int pages = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(v1::ListItemsResponse got, ListItems(*router_, r));
    ASSERT_OK_AND_ASSIGN(v1::ListItemsResponse want, standalone->ListItems(r));
    ASSERT_EQ(got.items_size(), want.items_size()) << "page " << pages;
    for (int i = 0; i < got.items_size(); ++i) {
      EXPECT_EQ(got.items(i).id(), want.items(i).id());
      EXPECT_EQ(got.items(i).vector_size(), static_cast<int>(kDim));
    }
    EXPECT_EQ(got.next_page_token(), want.next_page_token());
    EXPECT_EQ(got.item_count(), 53u);
    ++pages;
    if (got.next_page_token().empty()) break;
    r.set_page_token(got.next_page_token());
  }
  EXPECT_EQ(pages, 8);
  // A token between ids: items after it.
  r.set_page_token("item-1010x");
  r.set_page_size(3);
  ASSERT_OK_AND_ASSIGN(v1::ListItemsResponse got, ListItems(*router_, r));
  ASSERT_EQ(got.items_size(), 3);
  EXPECT_EQ(got.items(0).id(), "item-1011");
  r.set_page_size(10001);
  EXPECT_THAT(ListItems(*router_, r), StatusIs(Code::kInvalidArgument, HasSubstr("page_size")));
}

TEST_F(RouterCoreTest, RequestErrorsAreTheStandaloneServers) {
  StartCluster(2);
  v1::CreateCollectionRequest spec = Spec("c", 2, 1);
  spec.add_metrics(v1::METRIC_L2);
  spec.add_index_kinds(v1::INDEX_KIND_EXACT);
  ASSERT_OK(Create(*router_, spec));
  const std::vector<v1::Item> items = Items(4);
  std::vector<v1::UpsertRequest> bad = Messages("c", items);
  bad[0].mutable_items(2)->mutable_vector()->RemoveLast();
  EXPECT_THAT(Upsert(*router_, bad),
              StatusIs(Code::kInvalidArgument, HasSubstr("item 2 (id 'item-1002') has 7 values")));
  bad = Messages("c", items);
  bad[0].mutable_items(1)->set_id("");
  EXPECT_THAT(Upsert(*router_, bad), StatusIs(Code::kInvalidArgument, HasSubstr("id has 0")));
  EXPECT_THAT(Upsert(*router_, Messages("nope", items)),
              StatusIs(Code::kNotFound, HasSubstr("no collection named 'nope'")));
  v1::SearchRequest q = VectorQuery("c", items[0], 2000);
  EXPECT_THAT(Search(*router_, q), StatusIs(Code::kInvalidArgument, HasSubstr("k 2000")));
  q.set_k(3);
  q.set_metric(v1::METRIC_COSINE);
  EXPECT_THAT(Search(*router_, q),
              StatusIs(Code::kFailedPrecondition, HasSubstr("does not index metric cosine")));
  q.set_metric(v1::METRIC_L2);
  q.set_index_kind(v1::INDEX_KIND_HNSW);
  EXPECT_THAT(Search(*router_, q), StatusIs(Code::kFailedPrecondition, HasSubstr("no HNSW")));
  q.set_index_kind(v1::INDEX_KIND_EXACT);
  q.mutable_vector()->add_values(1);
  EXPECT_THAT(Search(*router_, q), StatusIs(Code::kInvalidArgument, HasSubstr("has dim 8")));
  q.set_collection("nope");
  EXPECT_THAT(Search(*router_, q), StatusIs(Code::kNotFound, HasSubstr("'nope'")));
  v1::SearchRequest image;
  image.set_collection("c");
  image.mutable_image()->set_encoded("png");
  EXPECT_THAT(Search(*router_, image), StatusIs(Code::kUnavailable, HasSubstr("--encoder")));
}

TEST_F(RouterCoreTest, DropRemovesThePlacementAndNodesDropTheirReplicas) {
  StartCluster(2);
  ASSERT_OK(Create(*router_, Spec("c", 2, 2)));
  ASSERT_OK(Drop(*router_, "c"));
  EXPECT_THAT(Drop(*router_, "c"), StatusIs(Code::kNotFound, HasSubstr("'c'")));
  EXPECT_THAT(Get(*router_, "c"), StatusIs(Code::kNotFound, HasSubstr("no collection named")));
  EXPECT_FALSE(cluster_->node(0).Holds("c", 0));  // Reconciled by the drop's refresh.
}

TEST_F(RouterCoreTest, SnapshotReachesEveryReplica) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 3, 2)));
  ASSERT_OK(Upsert(*router_, Messages("c", Items(30))));
  ASSERT_OK_AND_ASSIGN(v1::SnapshotResponse snapshots, Snapshot(*router_, "c"));
  EXPECT_EQ(snapshots.snapshots_size(), 6);
  uint64_t items = 0;
  for (const v1::SnapshotInfo& s : snapshots.snapshots()) items += s.items();
  EXPECT_EQ(items, 60u);
  EXPECT_THAT(Snapshot(*router_, "nope"),
              StatusIs(Code::kNotFound, HasSubstr("no collection named")));
}

TEST_F(RouterCoreTest, StatusShowsReplicaStatesAndLag) {
  StartCluster(3);
  ASSERT_OK(Create(*router_, Spec("c", 1, 3)));
  cluster_->node(2).SetWrites(Mode::kRefuse);
  ASSERT_OK(Upsert(*router_, Messages("c", Items(10))));
  cluster_->node(2).AwaitResyncs("c", 0, 1);
  cluster_->node(1).SetDown(true);
  ASSERT_OK_AND_ASSIGN(v1::ClusterStatusResponse status, Status(*router_));
  EXPECT_EQ(status.router(), "test-router");
  EXPECT_EQ(status.refresh_interval_ms(), 100u);
  ASSERT_EQ(status.nodes_size(), 3);
  ASSERT_EQ(status.collections_size(), 1);
  const v1::ShardStatus& shard = status.collections(0).shard_status(0);
  std::map<std::string, v1::ReplicaStatus> by_node;
  for (const v1::ReplicaStatus& r : shard.replicas()) by_node[r.node()] = r;
  const v1::ReplicaStatus& good = by_node[cluster_->node(0).address()];
  EXPECT_EQ(good.state(), v1::REPLICA_STATE_SERVING);
  EXPECT_EQ(good.item_count(), 10u);
  EXPECT_EQ(good.lag_items(), 0u);
  EXPECT_EQ(by_node[cluster_->node(1).address()].state(), v1::REPLICA_STATE_DOWN);
  const v1::ReplicaStatus& behind = by_node[cluster_->node(2).address()];
  EXPECT_EQ(behind.state(), v1::REPLICA_STATE_CATCHING_UP);  // Told to resync.
  EXPECT_EQ(behind.lag_items(), 10u);
  for (const v1::NodeStatus& n : status.nodes()) {
    EXPECT_EQ(n.up(), n.address() != cluster_->node(1).address());
    EXPECT_EQ(n.replicas(), 1u);
  }
}

TEST_F(RouterCoreTest, RebalanceMovesReplicasToANewNodeAndFinishesOnceItServes) {
  StartCluster(2);
  ASSERT_OK(Create(*router_, Spec("c", 4, 1)));
  ASSERT_OK(Upsert(*router_, Messages("c", Items(40))));
  FakeNode::Options catching_up;
  catching_up.new_replicas_catch_up = true;
  ASSERT_OK_AND_ASSIGN(FakeNode * added, cluster_->AddNode(catching_up));
  v1::RebalanceRequest r;
  r.set_dry_run(true);
  ASSERT_OK_AND_ASSIGN(v1::RebalanceResponse plan, Rebalance(*router_, r));
  ASSERT_EQ(plan.moves_size(), 1);
  EXPECT_EQ(plan.moves(0).to_node(), added->address());
  r.set_dry_run(false);
  ASSERT_OK_AND_ASSIGN(v1::RebalanceResponse started, Rebalance(*router_, r));
  ASSERT_EQ(started.moves_size(), 1);
  EXPECT_THAT(Rebalance(*router_, r),
              StatusIs(Code::kFailedPrecondition, HasSubstr("already under way")));
  const uint32_t shard = started.moves(0).shard();
  // The new node made its JOINING replica, which catches up: the move
  // stays under way until it serves.
  ASSERT_OK(router_->Refresh());
  ASSERT_TRUE(added->Holds("c", shard));
  EXPECT_EQ(ReplicaNodes("c", shard).size(), 2u);
  added->FinishCatchUp("c", shard);
  ASSERT_OK(router_->Refresh());
  EXPECT_EQ(ReplicaNodes("c", shard), std::vector<std::string>{added->address()});
  ASSERT_OK_AND_ASSIGN(v1::ClusterStatusResponse status, Status(*router_));
  EXPECT_EQ(status.collections(0).shard_status(shard).replicas(0).role(), v1::REPLICA_ROLE_ACTIVE);
}

TEST_F(RouterCoreTest, ImageQueriesAreEncodedOnceWithTheCollectionsModelThenFannedOut) {
  StartCluster(3);
  auto encoder = std::make_shared<InlineEncoder>();
  RouterCoreOptions options = cluster_->RouterOptions();
  options.encoder = encoder;
  ASSERT_OK_AND_ASSIGN(router_, RouterCore::Create(options));
  ASSERT_OK(Create(*router_, Spec("c", 3, 1)));
  const std::vector<v1::Item> items = Items(60);
  ASSERT_OK(Upsert(*router_, Messages("c", items)));
  const v1::SearchRequest by_vector = VectorQuery("c", items[9], 5);
  encoder->embedding = by_vector.vector().values();
  v1::SearchRequest by_image = by_vector;
  by_image.mutable_image()->set_encoded("png bytes");
  ASSERT_OK_AND_ASSIGN(v1::SearchResponse got, Search(*router_, by_image));
  ASSERT_OK_AND_ASSIGN(v1::SearchResponse want, Search(*router_, by_vector));
  ExpectSameNeighbors(got, want);
  EXPECT_EQ(encoder->calls, 1);
  EXPECT_EQ(encoder->models[0].name(), "m");
  EXPECT_EQ(encoder->models[0].version(), 3u);
  encoder->missing = true;
  EXPECT_THAT(Search(*router_, by_image),
              StatusIs(Code::kFailedPrecondition, HasSubstr("no longer holds model m v3")));
  v1::SearchBatchRequest batch;
  batch.set_collection("c");
  *batch.add_queries() = by_image;
  EXPECT_THAT(SearchBatch(*router_, batch), StatusIs(Code::kUnimplemented, HasSubstr("query 0")));
  v1::CreateCollectionRequest no_model = Spec("plain", 1, 1);
  no_model.clear_model();
  ASSERT_OK(Create(*router_, no_model));
  by_image.set_collection("plain");
  EXPECT_THAT(Search(*router_, by_image),
              StatusIs(Code::kFailedPrecondition, HasSubstr("without a model reference")));
}

}  // namespace
}  // namespace latentsearch::search::cluster::testing

// A sharded, replicated collection answers like one node (issue #10's first
// acceptance point): real processes on loopback — etcd, 3 nodes, 2 routers
// — and a standalone latentsearch-search holding the same items. Exact
// searches per metric return the same ids and distances, HNSW recall@10
// against that is >= 0.99, item queries with exclude_self, label filters,
// ListItems paging and GetCollection totals agree, and deletes through the
// router disappear from answers.
//
// Size: LS_CLUSTER_ITEMS / LS_CLUSTER_DIM / LS_CLUSTER_QUERIES in the
// environment (defaults 6,000 x 32-d and 100 queries per metric, seconds);
// the acceptance run is 200,000 x 128 and 500 queries, by hand:
//   LS_CLUSTER_ITEMS=200000 LS_CLUSTER_DIM=128 LS_CLUSTER_QUERIES=500 \
//     build/tests/cluster_answers_test
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc/channel.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/integration/cluster/local_cluster.h"
#include "tests/unit/index/synthetic.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::LocalCluster;
using ::latentsearch::testing::Subprocess;

size_t EnvOr(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoul(v, nullptr, 10);
}

// n clustered vectors (20 Gaussian clusters), labels = cluster.
struct Data {
  size_t dim = 0;
  std::vector<float> vectors;
  std::vector<int> labels;
};

// The repository's "CIFAR-10-like" clustered vectors (10 classes x 10
// modes, tests/unit/index/synthetic.h, as index_bench uses), labels by item.
Data Synthetic(size_t n, size_t dim, uint32_t seed) {
  Data d;
  d.dim = dim;
  d.vectors = index::testing::ClusteredVectors(n, dim, seed);
  for (size_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int>(i % 10));
  return d;
}

Data Clustered(size_t n, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<std::vector<float>> centers(20, std::vector<float>(dim));
  for (auto& c : centers) {
    for (float& x : c) x = 4 * g(rng);
  }
  Data d;
  d.dim = dim;
  for (size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % centers.size());
    for (size_t j = 0; j < dim; ++j) d.vectors.push_back(centers[c][j] + g(rng));
    d.labels.push_back(c);
  }
  return d;
}

grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& f) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  return f(&ctx);
}

class ClusterAnswersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::EtcdProcess::Available()) GTEST_SKIP() << testing::EtcdProcess::kNotInstalled;
    auto cluster = LocalCluster::Start({});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto single = Subprocess::StartServer(
        {testing::BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
         "--data_dir=" + cluster_->dir() + "/single", "--threads=1", "--drain_seconds=0"},
        cluster_->dir() + "/single.log");
    ASSERT_TRUE(single.ok()) << single.status();
    single_ = std::move(*single);
    router_ = v1::Search::NewStub(rpc::CreateChannel(cluster_->RouterTarget()));
    one_ = v1::Search::NewStub(rpc::CreateChannel(single_->address()));
  }

  void CreateAndFill(const Data& d) {
    v1::CreateCollectionRequest create;
    create.set_name("c");
    create.set_dim(d.dim);
    v1::CollectionInfo info;
    ASSERT_TRUE(Call([&](auto* c) { return one_->CreateCollection(c, create, &info); }).ok());
    create.set_shards(3);
    create.set_replication_factor(2);
    grpc::Status s = Call([&](auto* c) { return router_->CreateCollection(c, create, &info); });
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(info.shards(), 3u);
    EXPECT_EQ(info.replication_factor(), 2u);
    for (v1::Search::Stub* stub : {one_.get(), router_.get()}) {
      const size_t n = d.labels.size();
      for (size_t start = 0; start < n; start += 2000) {
        grpc::ClientContext ctx;
        v1::UpsertResponse resp;
        auto writer = stub->Upsert(&ctx, &resp);
        v1::UpsertRequest req;
        req.set_collection("c");
        for (size_t i = start; i < std::min(n, start + 2000); ++i) {
          v1::Item* item = req.add_items();
          item->set_id(absl::StrCat("item-", i));
          item->set_label(d.labels[i]);
          item->mutable_vector()->Assign(d.vectors.begin() + i * d.dim,
                                         d.vectors.begin() + (i + 1) * d.dim);
        }
        ASSERT_TRUE(writer->Write(req));
        writer->WritesDone();
        grpc::Status st = writer->Finish();
        ASSERT_TRUE(st.ok()) << st.error_message();
      }
    }
  }

  v1::SearchResponse Search(v1::Search::Stub* stub, const v1::SearchRequest& req) {
    v1::SearchResponse resp;
    grpc::Status s = Call([&](auto* c) { return stub->Search(c, req, &resp); });
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<Subprocess> single_;
  std::unique_ptr<v1::Search::Stub> router_, one_;
};

TEST_F(ClusterAnswersTest, SameAnswersAsOneNode) {
  const size_t n = EnvOr("LS_CLUSTER_ITEMS", 6000), dim = EnvOr("LS_CLUSTER_DIM", 32);
  const size_t nq = EnvOr("LS_CLUSTER_QUERIES", 100);
  const Data d = Synthetic(n, dim, 7);
  ASSERT_NO_FATAL_FAILURE(CreateAndFill(d));
  const Data queries = Synthetic(nq, dim, 8);
  // HNSW graphs are built in the background; until then HNSW requests are
  // answered exactly (exact_fallback). Wait for every shard's graphs.
  v1::SearchRequest probe;
  probe.set_collection("c");
  probe.set_index_kind(v1::INDEX_KIND_HNSW);
  probe.mutable_vector()->mutable_values()->Assign(queries.vectors.begin(),
                                                   queries.vectors.begin() + dim);
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  for (v1::Metric metric : {v1::METRIC_L1, v1::METRIC_L2, v1::METRIC_COSINE}) {
    probe.set_metric(metric);
    while (Search(router_.get(), probe).exact_fallback() ||
           Search(one_.get(), probe).exact_fallback()) {
      ASSERT_LT(absl::Now(), deadline) << "HNSW graphs not built";
      absl::SleepFor(absl::Milliseconds(100));  // polling a condition
    }
  }
  for (v1::Metric metric : {v1::METRIC_L1, v1::METRIC_L2, v1::METRIC_COSINE}) {
    size_t hits = 0, wanted = 0;
    for (size_t q = 0; q < nq; ++q) {
      v1::SearchRequest req;
      req.set_collection("c");
      req.set_metric(metric);
      req.set_k(10);
      req.mutable_vector()->mutable_values()->Assign(queries.vectors.begin() + q * dim,
                                                     queries.vectors.begin() + (q + 1) * dim);
      const v1::SearchResponse want = Search(one_.get(), req);
      const v1::SearchResponse got = Search(router_.get(), req);
      ASSERT_EQ(got.neighbors_size(), want.neighbors_size());
      for (int i = 0; i < want.neighbors_size(); ++i) {
        EXPECT_EQ(got.neighbors(i).id(), want.neighbors(i).id())
            << "metric " << metric << " q " << q;
        EXPECT_EQ(got.neighbors(i).distance(), want.neighbors(i).distance());
        EXPECT_EQ(got.neighbors(i).label(), want.neighbors(i).label());
      }
      EXPECT_FALSE(got.partial());
      req.set_index_kind(v1::INDEX_KIND_HNSW);
      req.set_ef(128);
      const v1::SearchResponse approx = Search(router_.get(), req);
      std::set<std::string> truth;
      for (const auto& nb : want.neighbors()) truth.insert(nb.id());
      for (const auto& nb : approx.neighbors()) hits += truth.count(nb.id());
      wanted += truth.size();
    }
    const double recall = static_cast<double>(hits) / wanted;
    EXPECT_GE(recall, 0.99) << "metric " << metric;
    std::printf("metric %d: %zu exact queries identical; HNSW ef 128 recall@10 %.4f\n", metric, nq,
                recall);
  }
}

TEST_F(ClusterAnswersTest, ListingsItemQueriesFiltersAndDeletesMatchOneNode) {
  const Data d = Clustered(3000, 16, 11);
  ASSERT_NO_FATAL_FAILURE(CreateAndFill(d));
  // GetCollection totals.
  v1::GetCollectionRequest get;
  get.set_name("c");
  v1::CollectionInfo info;
  ASSERT_TRUE(Call([&](auto* c) { return router_->GetCollection(c, get, &info); }).ok());
  EXPECT_EQ(info.item_count(), 3000u);
  EXPECT_GT(info.disk_bytes(), 0u);
  ASSERT_FALSE(info.indexes().empty());
  for (const v1::IndexStats& ix : info.indexes()) {
    if (ix.kind() == v1::INDEX_KIND_EXACT) EXPECT_EQ(ix.items(), 3000u);
  }
  // ListItems pages (ids after the token, ascending) equal one node's.
  auto list_all = [&](v1::Search::Stub* stub) {
    std::vector<std::string> ids;
    v1::ListItemsRequest req;
    req.set_collection("c");
    req.set_page_size(700);
    do {
      v1::ListItemsResponse resp;
      EXPECT_TRUE(Call([&](auto* c) { return stub->ListItems(c, req, &resp); }).ok());
      for (const v1::Item& it : resp.items()) ids.push_back(it.id());
      req.set_page_token(resp.next_page_token());
    } while (!req.page_token().empty());
    return ids;
  };
  EXPECT_EQ(list_all(router_.get()), list_all(one_.get()));
  // Item queries with exclude_self, and label filters.
  for (int i = 0; i < 20; ++i) {
    v1::SearchRequest req;
    req.set_collection("c");
    req.set_item_id(absl::StrCat("item-", i * 37));
    req.set_exclude_self(true);
    req.set_k(5);
    if (i % 2 == 0) req.add_labels(d.labels[i]);
    const v1::SearchResponse want = Search(one_.get(), req);
    const v1::SearchResponse got = Search(router_.get(), req);
    ASSERT_EQ(got.neighbors_size(), want.neighbors_size());
    for (int j = 0; j < want.neighbors_size(); ++j) {
      EXPECT_EQ(got.neighbors(j).id(), want.neighbors(j).id());
      EXPECT_EQ(got.neighbors(j).distance(), want.neighbors(j).distance());
    }
  }
  // Deletes through the router disappear from answers.
  v1::DeleteRequest del;
  del.set_collection("c");
  for (int i = 0; i < 100; ++i) del.add_ids(absl::StrCat("item-", i));
  del.add_ids("never-there");
  v1::DeleteResponse deleted;
  ASSERT_TRUE(Call([&](auto* c) { return router_->Delete(c, del, &deleted); }).ok());
  EXPECT_EQ(deleted.deleted(), 100u);
  EXPECT_EQ(deleted.not_found(), 1u);
  for (int i = 0; i < 100; i += 9) {
    v1::SearchRequest req;
    req.set_collection("c");
    req.set_k(1);
    req.mutable_vector()->mutable_values()->Assign(d.vectors.begin() + i * d.dim,
                                                   d.vectors.begin() + (i + 1) * d.dim);
    const v1::SearchResponse got = Search(router_.get(), req);
    ASSERT_EQ(got.neighbors_size(), 1);
    EXPECT_NE(got.neighbors(0).id(), absl::StrCat("item-", i));
  }
  ASSERT_TRUE(Call([&](auto* c) { return router_->GetCollection(c, get, &info); }).ok());
  EXPECT_EQ(info.item_count(), 2900u);
}

TEST_F(ClusterAnswersTest, BadLayoutsAreClearErrorsAndCreateNothing) {
  auto create = [&](v1::Search::Stub* stub, uint32_t shards, uint32_t rf, uint32_t dim) {
    v1::CreateCollectionRequest req;
    req.set_name("bad");
    req.set_dim(dim);
    req.set_shards(shards);
    req.set_replication_factor(rf);
    v1::CollectionInfo info;
    return Call([&](auto* c) { return stub->CreateCollection(c, req, &info); });
  };
  auto exists = [&] {
    v1::GetCollectionRequest get;
    get.set_name("bad");
    v1::CollectionInfo info;
    return Call([&](auto* c) { return router_->GetCollection(c, get, &info); }).error_code() !=
           grpc::StatusCode::NOT_FOUND;
  };
  grpc::Status s = create(router_.get(), 2, 4, 8);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("the cluster has 3"));
  s = create(router_.get(), 300, 1, 8);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  s = create(router_.get(), 2, 8, 8);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_FALSE(exists());
  // A node that does not answer: nothing is created.
  cluster_->KillNode(2);
  s = create(router_.get(), 3, 3, 8);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr(cluster_->node(2)));
  EXPECT_FALSE(exists());
  ASSERT_TRUE(cluster_->StartNode(2).ok());
  ASSERT_TRUE(cluster_->WaitAllServing().ok());
  // The same name with different settings through both routers at once:
  // one wins, the other gets ALREADY_EXISTS naming the settings.
  auto r0 = v1::Search::NewStub(rpc::CreateChannel(cluster_->router(0)));
  auto r1 = v1::Search::NewStub(rpc::CreateChannel(cluster_->router(1)));
  grpc::Status s0, s1;
  std::thread t0([&] { s0 = create(r0.get(), 2, 2, 8); });
  std::thread t1([&] { s1 = create(r1.get(), 3, 1, 16); });
  t0.join();
  t1.join();
  EXPECT_NE(s0.ok(), s1.ok()) << s0.error_message() << " / " << s1.error_message();
  const grpc::Status& loser = s0.ok() ? s1 : s0;
  EXPECT_EQ(loser.error_code(), grpc::StatusCode::ALREADY_EXISTS) << loser.error_message();
  v1::GetCollectionRequest get;
  get.set_name("bad");
  v1::CollectionInfo info;
  ASSERT_TRUE(Call([&](auto* c) { return router_->GetCollection(c, get, &info); }).ok());
  EXPECT_EQ(info.shards(), s0.ok() ? 2u : 3u);
}

}  // namespace
}  // namespace latentsearch

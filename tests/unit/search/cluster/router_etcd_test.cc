// RouterCore with its placement in a real etcd (EtcdRouterStore over
// cluster::PlacementStore; a throwaway single-member etcd per case, skipped
// when etcd is not installed) and FakeNodes registered there as real nodes
// register: the placement record a create writes, two routers creating one
// collection at once (one wins, the other ALREADY_EXISTS), and etcd going
// away (searches and writes go on with the last placement read; creating
// answers UNAVAILABLE naming etcd). Label integration: each case runs etcd.
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/cluster/etcd_client.h"
#include "common/cluster/placement_store.h"
#include "common/testing/etcd_process.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/search/cluster/router_core.h"
#include "services/search/cluster/router_etcd_store.h"
#include "tests/unit/search/cluster/router_test_cluster.h"

namespace latentsearch::search::cluster::testing {
namespace {

using ::latentsearch::cluster::EtcdClient;
using ::latentsearch::cluster::PlacementStore;
using ::latentsearch::testing::EtcdProcess;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

v1::CreateCollectionRequest Spec(const std::string& name, uint32_t shards, uint32_t rf) {
  v1::CreateCollectionRequest r;
  r.set_name(name);
  r.set_dim(2);
  r.set_shards(shards);
  r.set_replication_factor(rf);
  return r;
}

v1::UpsertRequest TwoItems(const std::string& collection) {
  v1::UpsertRequest u;
  u.set_collection(collection);
  for (int i = 0; i < 2; ++i) {
    v1::Item* item = u.add_items();
    item->set_id(absl::StrCat("id", i));
    item->add_vector(i);
    item->add_vector(i);
  }
  return u;
}

class RouterEtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdProcess::Available()) GTEST_SKIP() << EtcdProcess::kNotInstalled;
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdProcess::Start());
    EtcdClient::Options options;
    options.endpoints = {etcd_->endpoint()};
    options.timeout = absl::Seconds(1);
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<EtcdClient> client, EtcdClient::Create(options));
    records_ = std::make_shared<PlacementStore>(std::shared_ptr<EtcdClient>(std::move(client)));
    auto store = std::make_shared<EtcdRouterStore>(records_);
    ASSERT_OK_AND_ASSIGN(cluster_, TestCluster::Start(3, store, [this](const std::string& a) {
                           v1::NodeRecord node;
                           node.set_address(a);
                           return records_->RegisterNode(node);
                         }));
    ASSERT_OK_AND_ASSIGN(router_, cluster_->Router());
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::shared_ptr<PlacementStore> records_;
  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<RouterCore> router_;
};

TEST_F(RouterEtcdTest, CreateStoresThePlacementRecordAndServesIt) {
  ASSERT_OK(Create(*router_, Spec("c", 2, 3)));
  ASSERT_OK_AND_ASSIGN(auto stored, records_->ReadPlacement("c"));
  EXPECT_EQ(stored.placement.spec().shards(), 2u);
  EXPECT_EQ(stored.placement.spec().write_consistency(), v1::CONSISTENCY_LEVEL_QUORUM);
  ASSERT_EQ(stored.placement.shards_size(), 2);
  EXPECT_EQ(stored.placement.shards(1).replicas_size(), 3);
  EXPECT_GT(stored.placement.created_at_us(), 0);
  ASSERT_OK_AND_ASSIGN(v1::UpsertResponse u, Upsert(*router_, {TwoItems("c")}));
  EXPECT_EQ(u.item_count(), 2u);
  v1::SearchRequest q;
  q.set_collection("c");
  q.mutable_vector()->add_values(1);
  q.mutable_vector()->add_values(1);
  ASSERT_OK_AND_ASSIGN(v1::SearchResponse r, Search(*router_, q));
  ASSERT_EQ(r.neighbors_size(), 2);
  EXPECT_EQ(r.neighbors(0).id(), "id1");
  // Another router serves it too.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RouterCore> other, cluster_->Router());
  ASSERT_OK_AND_ASSIGN(v1::CollectionInfo info, Get(*other, "c"));
  EXPECT_EQ(info.item_count(), 2u);
  ASSERT_OK(Drop(*other, "c"));
  EXPECT_THAT(records_->ReadPlacement("c"), StatusIs(Code::kNotFound, HasSubstr("'c'")));
}

TEST_F(RouterEtcdTest, TwoRoutersCreatingOneCollectionAtOnceOneWins) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<RouterCore> other, cluster_->Router());
  absl::StatusOr<v1::CollectionInfo> a, b;
  std::thread t1([&] { a = Create(*router_, Spec("c", 2, 2)); });
  std::thread t2([&] { b = Create(*other, Spec("c", 1, 3)); });
  t1.join();
  t2.join();
  ASSERT_NE(a.ok(), b.ok()) << a.status() << " / " << b.status();
  EXPECT_THAT(a.ok() ? b.status() : a.status(),
              StatusIs(Code::kAlreadyExists,
                       AllOf(HasSubstr("already exists"), HasSubstr("this request asks for"))));
  ASSERT_OK_AND_ASSIGN(auto stored, records_->ReadPlacement("c"));
  EXPECT_EQ(stored.placement.spec().shards(), a.ok() ? 2u : 1u);
}

TEST_F(RouterEtcdTest, WithoutEtcdSearchesAndWritesGoOnAndCreatingFailsNamingIt) {
  ASSERT_OK(Create(*router_, Spec("c", 2, 2)));
  etcd_->Kill();
  EXPECT_THAT(router_->Refresh(), StatusIs(Code::kUnavailable, HasSubstr(etcd_->endpoint())));
  ASSERT_OK(Upsert(*router_, {TwoItems("c")}));
  v1::SearchRequest q;
  q.set_collection("c");
  q.set_item_id("id0");
  ASSERT_OK_AND_ASSIGN(v1::SearchResponse r, Search(*router_, q));
  EXPECT_EQ(r.neighbors_size(), 2);
  EXPECT_THAT(Create(*router_, Spec("d", 1, 1)),
              StatusIs(Code::kUnavailable, HasSubstr(etcd_->endpoint())));
}

}  // namespace
}  // namespace latentsearch::search::cluster::testing

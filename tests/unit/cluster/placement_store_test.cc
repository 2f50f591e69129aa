// PlacementStore against a real etcd: records round-trip as JSON, a record
// that does not parse is skipped by ReadPlacements (and logged) but is
// INTERNAL naming its key when read alone, Create answers the existing
// record when the name is taken, Update and Remove refuse a stale revision,
// and RegisterNode keeps the first record.
#include "common/cluster/placement_store.h"

#include <memory>

#include "common/testing/etcd_process.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

using ::latentsearch::testing::EtcdProcess;
using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

v1::CollectionPlacement Placement(const std::string& name, uint32_t shards) {
  v1::CollectionPlacement p;
  p.mutable_spec()->set_name(name);
  p.mutable_spec()->set_dim(8);
  p.mutable_spec()->set_shards(shards);
  p.set_created_at_us(42);
  for (uint32_t s = 0; s < shards; ++s) {
    auto* shard = p.add_shards();
    shard->set_shard(s);
    auto* r = shard->add_replicas();
    r->set_node("n1:1");
    r->set_role(v1::REPLICA_ROLE_ACTIVE);
  }
  return p;
}

class PlacementStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdProcess::Available()) GTEST_SKIP() << EtcdProcess::kNotInstalled;
    absl::StatusOr<std::unique_ptr<EtcdProcess>> etcd = EtcdProcess::Start();
    ASSERT_THAT(etcd.status(), IsOk());
    etcd_ = std::move(*etcd);
    EtcdClientOptions options;
    options.endpoints = {etcd_->endpoint()};
    absl::StatusOr<std::unique_ptr<EtcdClient>> client = EtcdClient::Create(options);
    ASSERT_THAT(client.status(), IsOk());
    client_ = std::move(*client);
    store_ = std::make_unique<PlacementStore>(client_);
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::shared_ptr<EtcdClient> client_;
  std::unique_ptr<PlacementStore> store_;
};

TEST_F(PlacementStoreTest, CreateReadUpdateRemove) {
  absl::StatusOr<bool> created = store_->Create(Placement("a", 2), nullptr);
  ASSERT_THAT(created.status(), IsOk());
  EXPECT_TRUE(*created);
  StoredPlacement existing;
  created = store_->Create(Placement("a", 3), &existing);
  ASSERT_THAT(created.status(), IsOk());
  EXPECT_FALSE(*created);
  EXPECT_EQ(existing.placement.spec().shards(), 2u);  // the first one stays

  absl::StatusOr<StoredPlacement> read = store_->ReadPlacement("a");
  ASSERT_THAT(read.status(), IsOk());
  EXPECT_EQ(read->placement.shards_size(), 2);
  EXPECT_EQ(read->placement.created_at_us(), 42);
  const int64_t revision = read->mod_revision;
  absl::StatusOr<bool> updated = store_->Update(Placement("a", 4), revision);
  ASSERT_THAT(updated.status(), IsOk());
  EXPECT_TRUE(*updated);
  updated = store_->Update(Placement("a", 5), revision);  // stale revision
  ASSERT_THAT(updated.status(), IsOk());
  EXPECT_FALSE(*updated);
  absl::StatusOr<bool> removed = store_->Remove("a", revision);
  ASSERT_THAT(removed.status(), IsOk());
  EXPECT_FALSE(*removed);
  read = store_->ReadPlacement("a");
  ASSERT_THAT(read.status(), IsOk());
  EXPECT_EQ(read->placement.spec().shards(), 4u);
  removed = store_->Remove("a", read->mod_revision);
  ASSERT_THAT(removed.status(), IsOk());
  EXPECT_TRUE(*removed);
  EXPECT_THAT(store_->ReadPlacement("a").status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'a'")));
}

TEST_F(PlacementStoreTest, ARecordThatDoesNotParseIsSkippedByTheListAndNamedAlone) {
  ASSERT_THAT(store_->Create(Placement("good", 1), nullptr).status(), IsOk());
  ASSERT_THAT(client_->Put(std::string(kCollectionsPrefix) + "bad", "{not json"), IsOk());
  absl::StatusOr<std::vector<StoredPlacement>> all = store_->ReadPlacements();
  ASSERT_THAT(all.status(), IsOk());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].placement.spec().name(), "good");
  EXPECT_THAT(store_->ReadPlacement("bad").status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("/latentsearch/collections/bad")));
}

TEST_F(PlacementStoreTest, RegisterNodeKeepsTheFirstRecord) {
  v1::NodeRecord node;
  node.set_address("n1:1");
  node.set_registered_at_us(1);
  ASSERT_THAT(store_->RegisterNode(node), IsOk());
  node.set_registered_at_us(2);
  ASSERT_THAT(store_->RegisterNode(node), IsOk());
  absl::StatusOr<std::vector<v1::NodeRecord>> nodes = store_->ReadNodes();
  ASSERT_THAT(nodes.status(), IsOk());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].registered_at_us(), 1);
}

}  // namespace
}  // namespace latentsearch::cluster

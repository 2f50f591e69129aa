// NodeCore, a search cluster node without gRPC: several nodes in one
// process whose peers scan each other directly, on a clock the test moves.
// Covers reconcile (create, adopt from disk, drop after the grace), versioned
// writes, refusing reads while catching up, catch-up from serving peers and
// from all peers after a wiped disk, Resync, and ScanShard paging.
#include "services/search/cluster/node_core.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

constexpr uint32_t kDim = 4;

// Routes a scan to the NodeCore registered under the address; an address
// not registered (or marked down) answers UNAVAILABLE.
class InProcessPeers final : public PeerScanner {
 public:
  absl::StatusOr<v1::ScanShardResponse> Scan(const std::string& node,
                                             const v1::ScanShardRequest& request) override {
    auto it = nodes.find(node);
    if (it == nodes.end() || it->second == nullptr) {
      return absl::UnavailableError(node + " is down");
    }
    return it->second->ScanShard(request);
  }
  absl::StatusOr<v1::GetNodeStatusResponse> Status(const std::string& node) override {
    auto it = nodes.find(node);
    if (it == nodes.end() || it->second == nullptr) {
      return absl::UnavailableError(node + " is down");
    }
    return it->second->Status();
  }
  std::map<std::string, NodeCore*> nodes;
};

class NodeCoreTest : public ::testing::Test {
 protected:
  // A node named `address` over its own directory (kept across restarts).
  std::unique_ptr<NodeCore> StartNode(const std::string& address) {
    NodeCoreOptions options;
    options.address = address;
    options.collections.data_dir = dirs_.Join(address);
    options.collections.num_threads = 1;
    options.refresh_interval = absl::Seconds(1);
    options.catch_up_page_size = 3;  // several pages even for a few items
    options.clock = [this] { return now_; };
    absl::StatusOr<std::unique_ptr<NodeCore>> node = NodeCore::Create(options, peers_);
    EXPECT_THAT(node.status(), IsOk());
    peers_->nodes[address] = node->get();
    return std::move(*node);
  }

  // Collection "c" with `shards` shards, each on every node listed.
  static v1::CollectionPlacement Placement(const std::vector<std::string>& nodes,
                                           uint32_t shards = 1) {
    v1::CollectionPlacement p;
    p.mutable_spec()->set_name("c");
    p.mutable_spec()->set_dim(kDim);
    p.mutable_spec()->set_shards(shards);
    p.mutable_spec()->set_replication_factor(nodes.size());
    p.set_created_at_us(1000);
    for (uint32_t s = 0; s < shards; ++s) {
      v1::ShardPlacement* shard = p.add_shards();
      shard->set_shard(s);
      for (const std::string& n : nodes) {
        v1::ReplicaPlacement* r = shard->add_replicas();
        r->set_node(n);
        r->set_role(v1::REPLICA_ROLE_ACTIVE);
      }
    }
    return p;
  }

  static v1::ShardRef Ref(uint32_t shard = 0) {
    v1::ShardRef ref;
    ref.set_collection("c");
    ref.set_shard(shard);
    return ref;
  }

  static v1::ShardWriteRequest Upsert(const std::string& id, float x, uint64_t version) {
    v1::ShardWriteRequest w;
    *w.mutable_ref() = Ref();
    v1::VersionedItem* v = w.add_items();
    v->set_version(version);
    v->mutable_item()->set_id(id);
    v->mutable_item()->set_label(-1);
    for (uint32_t i = 0; i < kDim; ++i) v->mutable_item()->add_vector(x + i);
    return w;
  }

  static v1::ShardWriteRequest Delete(const std::string& id, uint64_t version) {
    v1::ShardWriteRequest w;
    *w.mutable_ref() = Ref();
    v1::VersionedItem* v = w.add_items();
    v->set_version(version);
    v->set_deleted(true);
    v->mutable_item()->set_id(id);
    return w;
  }

  static const v1::NodeReplica& Only(const v1::GetNodeStatusResponse& status) {
    EXPECT_EQ(status.replicas_size(), 1);
    return status.replicas(0);
  }

  // Moves the clock past the catch-up delay and runs the due catch-ups.
  int CatchUp(NodeCore* node) {
    now_ += absl::Seconds(2);
    return node->CatchUpDue();
  }

  TempDir dirs_;
  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
  std::shared_ptr<InProcessPeers> peers_ = std::make_shared<InProcessPeers>();
};

TEST_F(NodeCoreTest, ReplicaNamesAreInjective) {
  EXPECT_EQ(NodeCore::ReplicaName("images", 3), "images.3");
  EXPECT_NE(NodeCore::ReplicaName("a.1", 2), NodeCore::ReplicaName("a", 12));
}

TEST_F(NodeCoreTest, SingleReplicaServesAtOnce) {
  auto a = StartNode("a");
  EXPECT_THAT(a->SearchShard({}).status(), StatusIs(Code::kNotFound, HasSubstr("no replica")));
  a->Reconcile({Placement({"a"})});
  EXPECT_EQ(Only(a->Status()).state(), v1::REPLICA_STATE_SERVING);
  EXPECT_TRUE(a->AllServing());
}

TEST_F(NodeCoreTest, ReplicaWithPeersRefusesReadsUntilCaughtUp) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  a->Reconcile({Placement({"a", "b"})});
  b->Reconcile({Placement({"a", "b"})});
  ASSERT_THAT(a->Write(Upsert("x", 1, 10)).status(), IsOk());  // writes are taken at once
  v1::ShardSearchRequest search;
  *search.mutable_ref() = Ref();
  search.mutable_batch()->add_queries()->mutable_vector()->add_values(0);
  EXPECT_THAT(a->SearchShard(search).status(),
              StatusIs(Code::kUnavailable, HasSubstr("catching up")));
  EXPECT_FALSE(a->CatchUpPending());  // not before two refresh intervals
  EXPECT_EQ(a->CatchUpDue(), 0);
  EXPECT_EQ(CatchUp(a.get()), 1);  // b answers (catching up too): all peers merged
  EXPECT_EQ(b->CatchUpDue(), 1);
  EXPECT_EQ(Only(a->Status()).digest(), Only(b->Status()).digest());
  EXPECT_EQ(Only(b->Status()).item_count(), 1u);
}

TEST_F(NodeCoreTest, WritesAreLastWriterWinsWithTombstones) {
  auto a = StartNode("a");
  a->Reconcile({Placement({"a"})});
  ASSERT_THAT(a->Write(Upsert("x", 1, 20)).status(), IsOk());
  absl::StatusOr<v1::ShardWriteResponse> older = a->Write(Upsert("x", 2, 10));
  ASSERT_THAT(older.status(), IsOk());
  EXPECT_EQ(older->superseded(), 1u);
  ASSERT_THAT(a->Write(Delete("x", 30)).status(), IsOk());
  absl::StatusOr<v1::ShardWriteResponse> late = a->Write(Upsert("x", 3, 25));
  ASSERT_THAT(late.status(), IsOk());
  EXPECT_EQ(late->superseded(), 1u);  // the tombstone is newer
  EXPECT_EQ(late->item_count(), 0u);
  EXPECT_EQ(Only(a->Status()).tombstones(), 1u);
}

TEST_F(NodeCoreTest, BadWritesAreRefusedAndNameTheItem) {
  auto a = StartNode("a");
  a->Reconcile({Placement({"a"})});
  v1::ShardWriteRequest w = Upsert("x", 1, 1);
  w.mutable_items(0)->mutable_item()->add_vector(5);
  EXPECT_THAT(a->Write(w).status(), StatusIs(Code::kInvalidArgument, HasSubstr("'x'")));
  v1::ShardWriteRequest unknown = Upsert("x", 1, 1);
  unknown.mutable_ref()->set_shard(7);
  EXPECT_THAT(a->Write(unknown).status(), StatusIs(Code::kNotFound, HasSubstr("shard 7")));
}

TEST_F(NodeCoreTest, NewReplicaCopiesEverythingFromAServingPeer) {
  auto a = StartNode("a");
  a->Reconcile({Placement({"a"})});
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(a->Write(Upsert("id" + std::to_string(i), i, 100 + i)).status(), IsOk());
  }
  ASSERT_THAT(a->Write(Delete("id3", 200)).status(), IsOk());
  auto b = StartNode("b");
  a->Reconcile({Placement({"a", "b"})});
  b->Reconcile({Placement({"a", "b"})});
  EXPECT_EQ(Only(a->Status()).state(), v1::REPLICA_STATE_SERVING);  // a keeps serving
  EXPECT_EQ(CatchUp(b.get()), 1);
  EXPECT_EQ(Only(b->Status()).item_count(), 9u);
  EXPECT_EQ(Only(b->Status()).tombstones(), 1u);
  EXPECT_EQ(Only(b->Status()).digest(), Only(a->Status()).digest());
}

TEST_F(NodeCoreTest, WipedReplicaMergesEveryPeerSoAQuorumWriteSurvives) {
  // Replication 3: write w1 reached a and b, w2 reached a and c (each a
  // QUORUM). a's disk is lost; b alone lacks w2, c alone lacks w1.
  auto a = StartNode("a");
  auto b = StartNode("b");
  auto c = StartNode("c");
  for (NodeCore* n : {a.get(), b.get(), c.get()}) n->Reconcile({Placement({"a", "b", "c"})});
  for (NodeCore* n : {a.get(), b.get(), c.get()}) CatchUp(n);
  ASSERT_THAT(a->Write(Upsert("w1", 1, 10)).status(), IsOk());
  ASSERT_THAT(b->Write(Upsert("w1", 1, 10)).status(), IsOk());
  ASSERT_THAT(a->Write(Upsert("w2", 2, 11)).status(), IsOk());
  ASSERT_THAT(c->Write(Upsert("w2", 2, 11)).status(), IsOk());
  const uint64_t full = Only(a->Status()).digest();
  a.reset();
  peers_->nodes.erase("a");
  std::filesystem::remove_all(dirs_.Join("a"));
  a = StartNode("a");
  a->Reconcile({Placement({"a", "b", "c"})});
  EXPECT_EQ(CatchUp(a.get()), 1);
  EXPECT_EQ(Only(a->Status()).item_count(), 2u);
  EXPECT_EQ(Only(a->Status()).digest(), full);
}

TEST_F(NodeCoreTest, CatchUpWaitsWhenNoServingPeerAndNotAllPeersAnswer) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  for (NodeCore* n : {a.get(), b.get()}) n->Reconcile({Placement({"a", "b", "c"})});
  // c never started: b is catching up, so a has neither a serving peer nor
  // every peer.
  EXPECT_EQ(CatchUp(a.get()), 0);
  EXPECT_EQ(Only(a->Status()).state(), v1::REPLICA_STATE_CATCHING_UP);
  auto c = StartNode("c");
  c->Reconcile({Placement({"a", "b", "c"})});
  EXPECT_EQ(CatchUp(a.get()), 1);  // all three answered (whole-cluster restart)
}

TEST_F(NodeCoreTest, RestartedNodeAdoptsItsReplicasAndCatchesUp) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  for (NodeCore* n : {a.get(), b.get()}) n->Reconcile({Placement({"a", "b"})});
  for (NodeCore* n : {a.get(), b.get()}) CatchUp(n);
  ASSERT_THAT(a->Write(Upsert("x", 1, 10)).status(), IsOk());
  a.reset();
  peers_->nodes.erase("a");
  ASSERT_THAT(b->Write(Upsert("y", 2, 11)).status(), IsOk());  // missed by a
  a = StartNode("a");
  a->Reconcile({Placement({"a", "b"})});
  EXPECT_EQ(Only(a->Status()).state(), v1::REPLICA_STATE_CATCHING_UP);
  EXPECT_EQ(Only(a->Status()).item_count(), 1u);  // x, from its own disk
  EXPECT_EQ(CatchUp(a.get()), 1);
  EXPECT_EQ(Only(a->Status()).item_count(), 2u);
}

TEST_F(NodeCoreTest, ResyncRefusesReadsUntilCaughtUpAgain) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  for (NodeCore* n : {a.get(), b.get()}) n->Reconcile({Placement({"a", "b"})});
  for (NodeCore* n : {a.get(), b.get()}) CatchUp(n);
  ASSERT_THAT(b->Write(Upsert("x", 1, 10)).status(), IsOk());
  v1::ResyncRequest resync;
  *resync.mutable_ref() = Ref();
  resync.set_reason("missed a write");
  ASSERT_THAT(a->Resync(resync), IsOk());
  EXPECT_EQ(Only(a->Status()).state(), v1::REPLICA_STATE_CATCHING_UP);
  EXPECT_EQ(CatchUp(a.get()), 1);
  EXPECT_EQ(Only(a->Status()).item_count(), 1u);
}

TEST_F(NodeCoreTest, UnassignedReplicaIsDroppedAfterTheGrace) {
  auto a = StartNode("a");
  a->Reconcile({Placement({"a"})});
  a->Reconcile({});
  EXPECT_EQ(a->Status().replicas_size(), 1);  // routers may still read it
  now_ += absl::Seconds(3);
  a->Reconcile({});
  EXPECT_EQ(a->Status().replicas_size(), 0);
}

TEST_F(NodeCoreTest, ScanPagesInIdOrderAndRefusesWhileCatchingUpUnlessAllowed) {
  auto a = StartNode("a");
  a->Reconcile({Placement({"a"})});
  for (const char* id : {"d", "b", "a", "c"}) {
    ASSERT_THAT(a->Write(Upsert(id, 1, 5)).status(), IsOk());
  }
  v1::ScanShardRequest scan;
  *scan.mutable_ref() = Ref();
  scan.set_page_size(3);
  std::vector<std::string> ids;
  do {
    absl::StatusOr<v1::ScanShardResponse> page = a->ScanShard(scan);
    ASSERT_THAT(page.status(), IsOk());
    for (const v1::VersionedItem& v : page->items()) ids.push_back(v.item().id());
    scan.set_after_id(page->next_after_id());
  } while (!scan.after_id().empty());
  EXPECT_THAT(ids, ::testing::ElementsAre("a", "b", "c", "d"));
  scan.set_page_size(20000);
  EXPECT_THAT(a->ScanShard(scan).status(),
              StatusIs(Code::kInvalidArgument, HasSubstr("page_size")));
}

TEST_F(NodeCoreTest, AntiEntropyMergesReplicasThatStayDifferentWhileQuiet) {
  auto a = StartNode("a");
  auto b = StartNode("b");
  for (NodeCore* n : {a.get(), b.get()}) n->Reconcile({Placement({"a", "b"})});
  for (NodeCore* n : {a.get(), b.get()}) CatchUp(n);
  // A write that reached only a (its router died before it reached b).
  ASSERT_THAT(a->Write(Upsert("x", 1, 10)).status(), IsOk());
  EXPECT_EQ(a->AntiEntropyDue(), 0);  // first sight of the difference
  EXPECT_EQ(b->AntiEntropyDue(), 0);
  now_ += absl::Seconds(5);
  ASSERT_THAT(b->Write(Upsert("y", 2, 11)).status(), IsOk());  // not quiet: no merge yet
  EXPECT_EQ(a->AntiEntropyDue(), 0);
  EXPECT_EQ(b->AntiEntropyDue(), 0);
  ASSERT_THAT(a->Write(Upsert("y", 2, 11)).status(), IsOk());
  now_ += absl::Seconds(5);
  EXPECT_EQ(a->AntiEntropyDue(), 0);  // a has everything b has: nothing to merge...
  EXPECT_EQ(b->AntiEntropyDue(), 0);  // ...and b saw this difference once only
  now_ += absl::Seconds(5);
  EXPECT_EQ(b->AntiEntropyDue(), 1);  // quiet and still different: b merges a's items
  EXPECT_EQ(Only(b->Status()).digest(), Only(a->Status()).digest());
  EXPECT_EQ(Only(b->Status()).item_count(), 2u);
  now_ += absl::Seconds(5);
  EXPECT_EQ(a->AntiEntropyDue(), 0);  // equal now
}

}  // namespace
}  // namespace latentsearch::search::cluster

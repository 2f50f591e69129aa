// NodeAgent::RefreshOnce over a fake PlacementSource: registration is
// retried until it succeeds and then not repeated, a placement read that
// fails is returned and leaves the node's replicas as they were (nothing is
// dropped for an unreadable etcd), and a readable one is reconciled.
#include "services/search/cluster/node_agent.h"

#include <memory>
#include <vector>

#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

class FakeSource final : public PlacementSource {
 public:
  absl::Status RegisterNode(const v1::NodeRecord& node) override {
    ++register_calls;
    if (!register_error.ok()) return register_error;
    registered.push_back(node.address());
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<v1::CollectionPlacement>> ReadPlacements() override {
    if (!read_error.ok()) return read_error;
    return placements;
  }
  absl::Status register_error, read_error;
  int register_calls = 0;
  std::vector<std::string> registered;
  std::vector<v1::CollectionPlacement> placements;
};

class NoPeers final : public PeerScanner {
 public:
  absl::StatusOr<v1::ScanShardResponse> Scan(const std::string&,
                                             const v1::ScanShardRequest&) override {
    return absl::UnavailableError("no peers here");
  }
  absl::StatusOr<v1::GetNodeStatusResponse> Status(const std::string&) override {
    return absl::UnavailableError("no peers here");
  }
};

v1::CollectionPlacement OnNode(const std::string& node) {
  v1::CollectionPlacement p;
  p.mutable_spec()->set_name("c");
  p.mutable_spec()->set_dim(4);
  p.set_created_at_us(7);
  auto* shard = p.add_shards();
  auto* r = shard->add_replicas();
  r->set_node(node);
  r->set_role(v1::REPLICA_ROLE_ACTIVE);
  return p;
}

TEST(NodeAgentTest, RegistersOnceReconcilesAndKeepsTheLastPlacementWhenTheReadFails) {
  latentsearch::testing::TempDir dir;
  NodeCoreOptions options;
  options.address = "a:1";
  options.collections.data_dir = dir.path();
  options.collections.num_threads = 1;
  absl::Time now = absl::FromUnixSeconds(1000);
  options.clock = [&now] { return now; };
  absl::StatusOr<std::unique_ptr<NodeCore>> core =
      NodeCore::Create(options, std::make_shared<NoPeers>());
  ASSERT_THAT(core.status(), IsOk());
  FakeSource source;
  NodeAgent agent(core->get(), &source, absl::Seconds(1));

  source.register_error = absl::UnavailableError("etcd down");
  EXPECT_THAT(agent.RefreshOnce(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("etcd")));
  source.register_error = absl::OkStatus();
  source.placements = {OnNode("a:1")};
  ASSERT_THAT(agent.RefreshOnce(), IsOk());
  ASSERT_THAT(agent.RefreshOnce(), IsOk());
  EXPECT_EQ(source.register_calls, 2);  // the failed try and the one that worked
  EXPECT_THAT(source.registered, ::testing::ElementsAre("a:1"));
  ASSERT_EQ((*core)->Status().replicas_size(), 1);

  // etcd unreadable for longer than the drop grace: the replica stays.
  source.read_error = absl::UnavailableError("etcd down");
  for (int i = 0; i < 5; ++i) {
    now += absl::Seconds(1);
    EXPECT_THAT(agent.RefreshOnce(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("etcd")));
  }
  EXPECT_EQ((*core)->Status().replicas_size(), 1);
  // A readable placement without it: dropped after the grace.
  source.read_error = absl::OkStatus();
  source.placements.clear();
  ASSERT_THAT(agent.RefreshOnce(), IsOk());
  now += absl::Seconds(3);
  ASSERT_THAT(agent.RefreshOnce(), IsOk());
  EXPECT_EQ((*core)->Status().replicas_size(), 0);
}

}  // namespace
}  // namespace latentsearch::search::cluster

// Replica placement (placement.h): placing new collections (distinct nodes
// per shard over many random shapes, even load, determinism, errors),
// rebalance plans (a 4th node gets its share, collections with a move under
// way are left alone, repeated plans converge), and the move steps.
#include "common/cluster/placement.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::vector<std::string> Names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("node-" + std::string(1, static_cast<char>('a' + i)));
  return out;
}

v1::CollectionPlacement Collection(const std::string& name,
                                   const std::vector<v1::ShardPlacement>& shards) {
  v1::CollectionPlacement c;
  c.mutable_spec()->set_name(name);
  c.mutable_spec()->set_shards(static_cast<uint32_t>(shards.size()));
  for (const auto& s : shards) *c.add_shards() = s;
  return c;
}

// Places `name` with the current load of `existing` and appends it.
void Place(std::vector<v1::CollectionPlacement>* existing, const std::string& name, uint32_t shards,
           uint32_t rf, const std::vector<std::string>& nodes) {
  auto placed = PlaceNewCollection(shards, rf, nodes, ReplicasPerNode(*existing));
  ASSERT_TRUE(placed.ok()) << placed.status();
  existing->push_back(Collection(name, *placed));
}

std::vector<std::string> NodesOf(const v1::ShardPlacement& s) {
  std::vector<std::string> out;
  for (const auto& r : s.replicas()) out.push_back(r.node());
  return out;
}

void ExpectDistinct(const v1::ShardPlacement& s) {
  std::vector<std::string> nodes = NodesOf(s);
  std::set<std::string> unique(nodes.begin(), nodes.end());
  EXPECT_EQ(unique.size(), nodes.size()) << "shard " << s.shard() << " has two replicas on a node";
}

// max - min of the load over `nodes` (nodes without replicas count 0).
uint32_t Spread(const std::vector<v1::CollectionPlacement>& collections,
                const std::vector<std::string>& nodes) {
  const auto load = ReplicasPerNode(collections);
  uint32_t lo = UINT32_MAX, hi = 0;
  for (const auto& n : nodes) {
    auto it = load.find(n);
    const uint32_t v = it == load.end() ? 0 : it->second;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return hi - lo;
}

TEST(PlaceNewCollectionTest, ThreeNodesThreeShardsTwoReplicas) {
  auto placed = PlaceNewCollection(3, 2, {"c", "a", "b"}, {});
  ASSERT_OK(placed.status());
  ASSERT_EQ(placed->size(), 3u);
  EXPECT_THAT(NodesOf((*placed)[0]), ElementsAre("a", "b"));
  EXPECT_THAT(NodesOf((*placed)[1]), ElementsAre("c", "a"));
  EXPECT_THAT(NodesOf((*placed)[2]), ElementsAre("b", "c"));
  for (uint32_t s = 0; s < 3; ++s) {
    EXPECT_EQ((*placed)[s].shard(), s);
    for (const auto& r : (*placed)[s].replicas()) EXPECT_EQ(r.role(), v1::REPLICA_ROLE_ACTIVE);
  }
}

TEST(PlaceNewCollectionTest, CountsExistingLoad) {
  auto placed = PlaceNewCollection(3, 1, {"a", "b", "c"}, {{"a", 3}, {"gone", 9}});
  ASSERT_OK(placed.status());
  EXPECT_THAT(NodesOf((*placed)[0]), ElementsAre("b"));
  EXPECT_THAT(NodesOf((*placed)[1]), ElementsAre("c"));
  EXPECT_THAT(NodesOf((*placed)[2]), ElementsAre("b"));
}

TEST(PlaceNewCollectionTest, DistinctAndEvenOverRandomShapes) {
  std::mt19937 rng(17);
  for (int round = 0; round < 500; ++round) {
    const int n = std::uniform_int_distribution<int>(1, 10)(rng);
    const uint32_t rf = std::uniform_int_distribution<uint32_t>(1, std::min(7, n))(rng);
    const uint32_t shards = std::uniform_int_distribution<uint32_t>(1, 64)(rng);
    std::vector<std::string> nodes = Names(n);
    std::map<std::string, uint32_t> existing;
    const bool loaded = round % 2 == 1;
    if (loaded) {
      for (const auto& node : nodes) existing[node] = rng() % 6;
    }
    std::shuffle(nodes.begin(), nodes.end(), rng);
    auto placed = PlaceNewCollection(shards, rf, nodes, existing);
    ASSERT_OK(placed.status());
    ASSERT_EQ(placed->size(), shards);
    std::map<std::string, uint32_t> load = existing;
    std::map<std::string, uint32_t> added;
    for (const auto& s : *placed) {
      ASSERT_EQ(static_cast<uint32_t>(s.replicas_size()), rf);
      ExpectDistinct(s);
      for (const auto& r : s.replicas()) {
        ++load[r.node()];
        ++added[r.node()];
      }
    }
    // Even: a node that got replicas ends at most 1 above any node that
    // could have taken more (one without a replica of every shard). Without
    // existing load that is max - min <= 1.
    for (const auto& x : nodes) {
      if (added[x] == 0) continue;
      for (const auto& y : nodes) {
        if (added[y] < shards) {
          EXPECT_LE(load[x], load[y] + 1) << "round " << round << ": " << x << " vs " << y;
        }
      }
    }
    if (!loaded) {
      const auto [lo, hi] =
          std::minmax_element(load.begin(), load.end(),
                              [](const auto& a, const auto& b) { return a.second < b.second; });
      EXPECT_LE(hi->second - lo->second, 1u) << "round " << round;
    }
  }
}

TEST(PlaceNewCollectionTest, Deterministic) {
  const std::vector<std::string> nodes = Names(5);
  std::vector<std::string> reversed(nodes.rbegin(), nodes.rend());
  reversed.push_back(nodes[0]);  // Duplicates are ignored.
  auto a = PlaceNewCollection(16, 3, nodes, {{"node-b", 2}});
  auto b = PlaceNewCollection(16, 3, reversed, {{"node-b", 2}});
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  ASSERT_EQ(a->size(), b->size());
  for (size_t s = 0; s < a->size(); ++s) {
    EXPECT_EQ((*a)[s].SerializeAsString(), (*b)[s].SerializeAsString()) << "shard " << s;
  }
}

TEST(PlaceNewCollectionTest, Errors) {
  EXPECT_THAT(PlaceNewCollection(2, 3, {"b", "a"}, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "replication factor 3 needs 3 nodes; the cluster has 2: a, b"));
  EXPECT_THAT(PlaceNewCollection(1, 1, {}, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has 0")));
  EXPECT_THAT(PlaceNewCollection(0, 1, {"a"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "shard count 0 is outside 1..256"));
  EXPECT_THAT(PlaceNewCollection(257, 1, {"a"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("257")));
  EXPECT_THAT(PlaceNewCollection(1, 0, {"a"}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, "replication factor 0 is outside 1..7"));
  EXPECT_THAT(PlaceNewCollection(1, 8, Names(9), {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8 is outside 1..7")));
  EXPECT_OK(PlaceNewCollection(256, 7, Names(7), {}).status());
}

TEST(ReplicasPerNodeTest, CountsAllButLeaving) {
  v1::ShardPlacement s;
  s.set_shard(0);
  auto* r = s.add_replicas();
  r->set_node("a");
  r->set_role(v1::REPLICA_ROLE_LEAVING);
  r = s.add_replicas();
  r->set_node("b");
  r->set_role(v1::REPLICA_ROLE_ACTIVE);
  r = s.add_replicas();
  r->set_node("c");
  r->set_role(v1::REPLICA_ROLE_JOINING);
  const v1::CollectionPlacement c = Collection("x", {s});
  EXPECT_THAT(ReplicasPerNode({c, c}), ElementsAre(Pair("b", 2u), Pair("c", 2u)));
  EXPECT_TRUE(MoveInProgress(c));
}

// Starts and finishes every move of `plan` on `collections`.
void Apply(std::vector<v1::CollectionPlacement>* collections,
           const std::vector<v1::ReplicaMove>& plan) {
  for (const v1::ReplicaMove& move : plan) {
    auto it = std::find_if(collections->begin(), collections->end(),
                           [&](const auto& c) { return c.spec().name() == move.collection(); });
    ASSERT_NE(it, collections->end());
    auto started = StartMove(*it, move);
    ASSERT_OK(started.status());
    *it = *started;
  }
  for (const v1::ReplicaMove& move : plan) {
    auto it = std::find_if(collections->begin(), collections->end(),
                           [&](const auto& c) { return c.spec().name() == move.collection(); });
    auto finished = FinishMove(*it, move.shard(), move.to_node());
    ASSERT_OK(finished.status());
    *it = *finished;
  }
  for (const auto& c : *collections) EXPECT_FALSE(MoveInProgress(c)) << c.spec().name();
}

TEST(PlanRebalanceTest, FourthNodeGetsItsShare) {
  std::vector<v1::CollectionPlacement> collections;
  Place(&collections, "images", 3, 2, {"a", "b", "c"});
  const std::vector<std::string> four = {"a", "b", "c", "d"};
  const auto plan = PlanRebalance(collections, four);
  ASSERT_EQ(plan.size(), 1u);  // 6 replicas: 2, 2, 1, 1.
  EXPECT_EQ(plan[0].collection(), "images");
  EXPECT_EQ(plan[0].shard(), 0u);
  EXPECT_EQ(plan[0].from_node(), "a");
  EXPECT_EQ(plan[0].to_node(), "d");
  Apply(&collections, plan);
  EXPECT_THAT(ReplicasPerNode(collections),
              ElementsAre(Pair("a", 1u), Pair("b", 2u), Pair("c", 2u), Pair("d", 1u)));
  for (const auto& s : collections[0].shards()) ExpectDistinct(s);
  EXPECT_TRUE(PlanRebalance(collections, four).empty());
}

TEST(PlanRebalanceTest, FourthNodeTakesAQuarterWithFewestMoves) {
  std::vector<v1::CollectionPlacement> collections;
  Place(&collections, "b-coll", 3, 2, {"a", "b", "c"});
  Place(&collections, "a-coll", 3, 2, {"a", "b", "c"});
  const std::vector<std::string> four = {"a", "b", "c", "d"};
  const auto plan = PlanRebalance(collections, four);
  EXPECT_EQ(plan.size(), 3u);  // 12 replicas: 4, 4, 4, 0 -> 3 each.
  for (const auto& move : plan) EXPECT_EQ(move.to_node(), "d");
  Apply(&collections, plan);
  EXPECT_THAT(ReplicasPerNode(collections),
              ElementsAre(Pair("a", 3u), Pair("b", 3u), Pair("c", 3u), Pair("d", 3u)));
}

TEST(PlanRebalanceTest, LeavesCollectionsWithAMoveUnderWayAlone) {
  std::vector<v1::CollectionPlacement> collections;
  Place(&collections, "busy", 3, 2, {"a", "b", "c"});
  v1::ReplicaMove move;
  move.set_collection("busy");
  move.set_shard(1);
  move.set_from_node("c");
  move.set_to_node("d");
  auto started = StartMove(collections[0], move);
  ASSERT_OK(started.status());
  collections[0] = *started;
  // Loads a 2, b 2, c 1, d 1 (joining), e 0, but only "busy" could move.
  EXPECT_TRUE(PlanRebalance(collections, {"a", "b", "c", "d", "e"}).empty());
  Place(&collections, "idle", 3, 2, {"a", "b", "c"});
  for (const auto& m : PlanRebalance(collections, {"a", "b", "c", "d", "e"})) {
    EXPECT_EQ(m.collection(), "idle");
  }
}

TEST(PlanRebalanceTest, BalancedPlansNothing) {
  std::vector<v1::CollectionPlacement> collections;
  Place(&collections, "x", 4, 3, {"a", "b", "c"});
  EXPECT_TRUE(PlanRebalance(collections, {"a", "b", "c"}).empty());
  EXPECT_TRUE(PlanRebalance({}, {"a", "b"}).empty());
}

TEST(PlanRebalanceTest, RandomShapesConvergeKeepingShardsDistinct) {
  std::mt19937 rng(4242);
  for (int round = 0; round < 200; ++round) {
    const int before = std::uniform_int_distribution<int>(1, 5)(rng);
    const int after = before + std::uniform_int_distribution<int>(1, 4)(rng);
    std::vector<v1::CollectionPlacement> collections;
    const int count = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int c = 0; c < count; ++c) {
      const uint32_t rf = std::uniform_int_distribution<uint32_t>(1, std::min(before, 7))(rng);
      const uint32_t shards = std::uniform_int_distribution<uint32_t>(1, 12)(rng);
      Place(&collections, "c" + std::to_string(c), shards, rf, Names(before));
    }
    const std::vector<std::string> nodes = Names(after);
    const auto first = PlanRebalance(collections, nodes);
    std::vector<v1::CollectionPlacement> shuffled = collections;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto again = PlanRebalance(shuffled, nodes);
    ASSERT_EQ(first.size(), again.size());
    for (size_t i = 0; i < first.size(); ++i) {
      EXPECT_EQ(first[i].SerializeAsString(), again[i].SerializeAsString());
    }
    int rounds = 0;
    for (auto plan = first; !plan.empty(); plan = PlanRebalance(collections, nodes)) {
      ASSERT_LT(++rounds, 50) << "round " << round << ": the plans do not converge";
      Apply(&collections, plan);
      for (const auto& c : collections) {
        for (const auto& s : c.shards()) ExpectDistinct(s);
      }
    }
    EXPECT_LE(Spread(collections, nodes), 1u) << "round " << round;
  }
}

v1::CollectionPlacement ThreeByTwo() {
  auto placed = PlaceNewCollection(3, 2, {"a", "b", "c"}, {});
  return Collection("images", *placed);  // s0: a b, s1: c a, s2: b c.
}

v1::ReplicaMove Move(uint32_t shard, const std::string& from, const std::string& to) {
  v1::ReplicaMove m;
  m.set_collection("images");
  m.set_shard(shard);
  m.set_from_node(from);
  m.set_to_node(to);
  return m;
}

TEST(MoveTest, StartFinish) {
  auto started = StartMove(ThreeByTwo(), Move(0, "a", "d"));
  ASSERT_OK(started.status());
  const auto& s0 = started->shards(0);
  ASSERT_EQ(s0.replicas_size(), 3);
  EXPECT_EQ(s0.replicas(0).node(), "a");
  EXPECT_EQ(s0.replicas(0).role(), v1::REPLICA_ROLE_LEAVING);
  EXPECT_EQ(s0.replicas(1).role(), v1::REPLICA_ROLE_ACTIVE);
  EXPECT_EQ(s0.replicas(2).node(), "d");
  EXPECT_EQ(s0.replicas(2).role(), v1::REPLICA_ROLE_JOINING);
  EXPECT_TRUE(MoveInProgress(*started));
  auto finished = FinishMove(*started, 0, "d");
  ASSERT_OK(finished.status());
  EXPECT_THAT(NodesOf(finished->shards(0)), ElementsAre("b", "d"));
  for (const auto& r : finished->shards(0).replicas()) {
    EXPECT_EQ(r.role(), v1::REPLICA_ROLE_ACTIVE);
  }
  EXPECT_FALSE(MoveInProgress(*finished));
  EXPECT_EQ(finished->shards(1).SerializeAsString(), ThreeByTwo().shards(1).SerializeAsString());
}

TEST(MoveTest, CancelRestoresThePlacement) {
  auto started = StartMove(ThreeByTwo(), Move(2, "c", "d"));
  ASSERT_OK(started.status());
  auto cancelled = CancelMove(*started, 2, "d");
  ASSERT_OK(cancelled.status());
  EXPECT_EQ(cancelled->SerializeAsString(), ThreeByTwo().SerializeAsString());
}

TEST(MoveTest, StartErrors) {
  const auto p = ThreeByTwo();
  EXPECT_THAT(StartMove(p, Move(0, "a", "a")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("two different nodes")));
  EXPECT_THAT(StartMove(p, Move(0, "", "d")), StatusIs(absl::StatusCode::kInvalidArgument, _));
  v1::ReplicaMove other = Move(0, "a", "d");
  other.set_collection("texts");
  EXPECT_THAT(StartMove(p, other), StatusIs(absl::StatusCode::kFailedPrecondition,
                                            HasSubstr("does not apply to collection 'images'")));
  EXPECT_THAT(StartMove(p, Move(3, "a", "d")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has no shard 3")));
  EXPECT_THAT(StartMove(p, Move(0, "c", "d")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "node c holds no active replica of shard 0 of 'images'"));
  EXPECT_THAT(StartMove(p, Move(0, "a", "b")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "node b already holds a replica of shard 0 of 'images'"));
  auto started = StartMove(p, Move(0, "a", "d"));
  ASSERT_OK(started.status());
  EXPECT_THAT(StartMove(*started, Move(0, "b", "e")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("shard 0 of 'images' already has a move under way")));
  // A leaving replica is not active: it cannot move again.
  EXPECT_OK(StartMove(*started, Move(1, "a", "d")).status());
}

TEST(MoveTest, FinishAndCancelErrors) {
  auto started = StartMove(ThreeByTwo(), Move(0, "a", "d"));
  ASSERT_OK(started.status());
  EXPECT_THAT(FinishMove(*started, 0, "b"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "node b has no joining replica of shard 0 of 'images'"));
  EXPECT_THAT(FinishMove(*started, 1, "d"), StatusIs(absl::StatusCode::kFailedPrecondition, _));
  EXPECT_THAT(CancelMove(*started, 7, "d"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has no shard 7")));
  EXPECT_THAT(FinishMove(ThreeByTwo(), 0, "d"), StatusIs(absl::StatusCode::kFailedPrecondition, _));
}

}  // namespace
}  // namespace latentsearch::cluster

// MergeTopK / MergeTopKInto (merge.h): equal to sorting the union and
// taking k, ties by id byte-wise, k beyond the total, empty and null shards,
// and the neighbours' other fields travel with them.
#include "common/cluster/merge.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

v1::Neighbor N(const std::string& id, float distance) {
  v1::Neighbor n;
  n.set_id(id);
  n.set_distance(distance);
  n.set_uri("uri:" + id);
  n.add_vector(distance);
  return n;
}

std::vector<std::string> Ids(const std::vector<v1::Neighbor>& v) {
  std::vector<std::string> ids;
  for (const auto& n : v) ids.push_back(n.id());
  return ids;
}

std::vector<std::string> Ids(const google::protobuf::RepeatedPtrField<v1::Neighbor>& v) {
  std::vector<std::string> ids;
  for (const auto& n : v) ids.push_back(n.id());
  return ids;
}

// Random shards with distances drawn from few values (many ties).
std::vector<std::vector<v1::Neighbor>> RandomShards(std::mt19937& rng, int shards) {
  std::vector<std::vector<v1::Neighbor>> out(shards);
  std::uniform_int_distribution<int> len(0, 12);
  std::uniform_int_distribution<int> dist(0, 5);
  int next_id = 0;
  for (auto& list : out) {
    const int n = len(rng);
    for (int i = 0; i < n; ++i) {
      list.push_back(N("id" + std::to_string(next_id++ * 7919 % 1000), 0.5f * dist(rng)));
    }
    std::sort(list.begin(), list.end(), NeighborBefore);
  }
  return out;
}

TEST(MergeTest, EqualsSortingTheUnion) {
  std::mt19937 rng(20261206);
  for (int round = 0; round < 200; ++round) {
    auto shards = RandomShards(rng, 1 + round % 6);
    const size_t k = round % 15;
    std::vector<v1::Neighbor> all;
    for (const auto& list : shards) all.insert(all.end(), list.begin(), list.end());
    std::sort(all.begin(), all.end(), NeighborBefore);
    all.resize(std::min(k, all.size()));
    auto copy = shards;
    EXPECT_EQ(Ids(MergeTopK(std::move(shards), k)), Ids(all)) << "round " << round;

    std::vector<google::protobuf::RepeatedPtrField<v1::Neighbor>> fields(copy.size());
    std::vector<google::protobuf::RepeatedPtrField<v1::Neighbor>*> ptrs;
    for (size_t s = 0; s < copy.size(); ++s) {
      for (auto& n : copy[s]) *fields[s].Add() = n;
      ptrs.push_back(&fields[s]);
    }
    google::protobuf::RepeatedPtrField<v1::Neighbor> out;
    MergeTopKInto(ptrs, k, &out);
    EXPECT_EQ(Ids(out), Ids(all)) << "round " << round;
  }
}

TEST(MergeTest, TiesBrokenByIdBytewise) {
  std::vector<std::vector<v1::Neighbor>> shards = {
      {N("b", 1.0f), N("\xc3\xa9", 1.0f)},  // 0xc3 sorts after ASCII.
      {N("B", 1.0f), N("a", 1.0f)},
      {N("a0", 0.5f), N("z", 2.0f)},
  };
  EXPECT_THAT(Ids(MergeTopK(std::move(shards), 10)),
              ::testing::ElementsAre("a0", "B", "a", "b", "\xc3\xa9", "z"));
}

TEST(MergeTest, KLargerThanTotalReturnsEverything) {
  std::vector<std::vector<v1::Neighbor>> shards = {{N("x", 0.1f)}, {}, {N("y", 0.05f)}};
  const std::vector<v1::Neighbor> merged = MergeTopK(std::move(shards), 100);
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].id(), "y");
  EXPECT_EQ(merged[0].uri(), "uri:y");
  EXPECT_THAT(merged[0].vector(), ::testing::ElementsAre(0.05f));
  EXPECT_EQ(merged[1].id(), "x");
}

TEST(MergeTest, ZeroKAndNoShards) {
  std::vector<std::vector<v1::Neighbor>> shards = {{N("x", 0.1f)}};
  EXPECT_TRUE(MergeTopK(std::move(shards), 0).empty());
  EXPECT_TRUE(MergeTopK({}, 5).empty());
}

TEST(MergeTest, NanDistancesSortLast) {
  std::vector<std::vector<v1::Neighbor>> shards = {{N("a", 1.0f), N("n", std::nanf(""))},
                                                   {N("b", 3.0f)}};
  EXPECT_THAT(Ids(MergeTopK(std::move(shards), 3)), ::testing::ElementsAre("a", "b", "n"));
}

TEST(MergeTest, IntoAppendsAndSkipsNullShards) {
  google::protobuf::RepeatedPtrField<v1::Neighbor> a, b, out;
  *a.Add() = N("a1", 0.1f);
  *a.Add() = N("a2", 0.4f);
  *b.Add() = N("b1", 0.2f);
  *out.Add() = N("existing", 9.0f);
  MergeTopKInto({&a, nullptr, &b}, 2, &out);
  EXPECT_THAT(Ids(out), ::testing::ElementsAre("existing", "a1", "b1"));
  EXPECT_EQ(out.Get(1).uri(), "uri:a1");
  EXPECT_EQ(a.size(), 2);  // Moved-from elements stay in place.
}

}  // namespace
}  // namespace latentsearch::cluster

// ShardOf's mapping is a stable contract (shard_hash.h): these golden values
// were computed independently (python3, FNV-1a 64 by its definition) and
// must never change.
#include "common/cluster/shard_hash.h"

#include <string>

#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

TEST(ShardHashTest, Fnv1a64MatchesPublishedVectors) {
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ull);
}

TEST(ShardHashTest, Fnv1a64GoldenValues) {
  EXPECT_EQ(Fnv1a64("item-0"), 0x66fa5413aae88533ull);
  EXPECT_EQ(Fnv1a64("item-1"), 0x66fa5313aae88380ull);
  EXPECT_EQ(Fnv1a64("img/000042.png"), 0x0291150d2ccd39ceull);
  // Bytes >= 0x80 and NUL count as unsigned bytes.
  EXPECT_EQ(Fnv1a64(std::string("\xff\x00\x80", 3)), 0xf920891be415651eull);
  EXPECT_EQ(Fnv1a64("caf\xc3\xa9"), 0x48e8823acfa40d89ull);  // "café" in UTF-8.
}

struct Golden {
  std::string id;
  uint32_t shards;
  uint32_t shard;
};

TEST(ShardHashTest, ShardOfGoldenValues) {
  const Golden cases[] = {
      {"", 2, 1},
      {"", 3, 2},
      {"", 16, 5},
      {"", 256, 37},
      {"a", 3, 1},
      {"a", 7, 5},
      {"a", 256, 140},
      {"foobar", 7, 6},
      {"foobar", 256, 232},
      {"item-0", 2, 1},
      {"item-0", 7, 5},
      {"item-0", 16, 3},
      {"item-1", 3, 2},
      {"item-1", 256, 128},
      {"img/000042.png", 16, 14},
      {"caf\xc3\xa9", 3, 2},
      {"caf\xc3\xa9", 256, 137},
  };
  for (const Golden& g : cases) {
    EXPECT_EQ(ShardOf(g.id, g.shards), g.shard) << "'" << g.id << "' over " << g.shards;
  }
  EXPECT_EQ(ShardOf(std::string("\xff\x00\x80", 3), 256), 30u);
}

TEST(ShardHashTest, OneShardHoldsEverything) {
  EXPECT_EQ(ShardOf("anything", 1), 0u);
  EXPECT_EQ(ShardOf("anything", 0), 0u);  // Unresolved 0 counts as 1.
}

TEST(ShardHashTest, SpreadsSequentialIds) {
  constexpr uint32_t kShards = 8;
  int counts[kShards] = {};
  for (int i = 0; i < 8000; ++i) ++counts[ShardOf("item-" + std::to_string(i), kShards)];
  for (uint32_t s = 0; s < kShards; ++s) {
    EXPECT_GT(counts[s], 800) << "shard " << s;
    EXPECT_LT(counts[s], 1200) << "shard " << s;
  }
}

}  // namespace
}  // namespace latentsearch::cluster

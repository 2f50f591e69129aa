#include "common/index/bitset.h"

#include <cstddef>

#include "gtest/gtest.h"

namespace latentsearch::index {
namespace {

TEST(BitsetTest, ConstructSetResetTestCount) {
  for (size_t size : {0, 1, 63, 64, 65, 130}) {
    Bitset none(size), all(size, true);
    EXPECT_EQ(none.size(), size);
    EXPECT_EQ(none.Count(), 0u);
    EXPECT_EQ(all.Count(), size);
    for (size_t i = 0; i < size; ++i) EXPECT_TRUE(all.Test(i));
  }
  Bitset b(100);
  b.Set(0);
  b.Set(64);
  b.Set(99);
  EXPECT_TRUE(b.Test(64));
  EXPECT_FALSE(b.Test(63));
  EXPECT_EQ(b.Count(), 3u);
  b.Reset(64);
  EXPECT_FALSE(b.Test(64));
  EXPECT_EQ(b.Count(), 2u);
}

TEST(BitsetTest, ResizeGrowsWithValueAndShrinkDropsBits) {
  Bitset b(10);
  b.Set(3);
  b.Resize(70, true);
  EXPECT_EQ(b.size(), 70u);
  EXPECT_EQ(b.Count(), 61u);  // bit 3 + bits 10..69
  EXPECT_FALSE(b.Test(4));
  EXPECT_TRUE(b.Test(10));
  EXPECT_TRUE(b.Test(69));
  b.Resize(5);
  EXPECT_EQ(b.Count(), 1u);
  b.Resize(200);  // grown bits are false, shrunk ones did not come back
  EXPECT_EQ(b.Count(), 1u);
  EXPECT_FALSE(b.Test(10));
  b.Resize(0);
  EXPECT_EQ(b.Count(), 0u);
  b.Resize(64, true);
  EXPECT_EQ(b.Count(), 64u);
}

TEST(BitsetTest, AndOrAndNot) {
  Bitset a(130), b(130);
  for (size_t i = 0; i < 130; i += 2) a.Set(i);
  for (size_t i = 0; i < 130; i += 3) b.Set(i);
  Bitset and_ab = a, or_ab = a, andnot_ab = a;
  and_ab.And(b);
  or_ab.Or(b);
  andnot_ab.AndNot(b);
  for (size_t i = 0; i < 130; ++i) {
    EXPECT_EQ(and_ab.Test(i), i % 2 == 0 && i % 3 == 0) << i;
    EXPECT_EQ(or_ab.Test(i), i % 2 == 0 || i % 3 == 0) << i;
    EXPECT_EQ(andnot_ab.Test(i), i % 2 == 0 && i % 3 != 0) << i;
  }
  EXPECT_EQ(and_ab.Count() + or_ab.Count(), a.Count() + b.Count());
}

}  // namespace
}  // namespace latentsearch::index

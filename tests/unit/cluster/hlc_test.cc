// HybridClock (hlc.h) under an injected physical clock: strictly increasing
// values, logical overflow into the next millisecond, Observe, a clock that
// goes backwards, and the packing helpers.
#include "common/cluster/hlc.h"

#include <atomic>
#include <memory>

#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

// A physical clock the test sets (milliseconds).
struct FakeMicros {
  std::shared_ptr<std::atomic<int64_t>> us = std::make_shared<std::atomic<int64_t>>(0);
  HybridClock::PhysicalClock Clock() const {
    auto p = us;
    return [p] { return p->load(); };
  }
};

TEST(HlcTest, PhysicalTimeLeadsWhenItAdvances) {
  FakeMicros fake;
  fake.us->store(1000);
  HybridClock clock(fake.Clock());
  EXPECT_EQ(clock.Now(), PackHlc(1000, 0));
  EXPECT_EQ(clock.Now(), PackHlc(1000, 1));
  EXPECT_EQ(clock.Now(), PackHlc(1000, 2));
  fake.us->store(1005);
  EXPECT_EQ(clock.Now(), PackHlc(1005, 0));
}

TEST(HlcTest, StrictlyIncreasingWhenTheClockGoesBack) {
  FakeMicros fake;
  fake.us->store(5000);
  HybridClock clock(fake.Clock());
  const uint64_t a = clock.Now();
  fake.us->store(4000);  // NTP stepped the clock back.
  const uint64_t b = clock.Now();
  EXPECT_GT(b, a);
  EXPECT_EQ(UnpackHlc(b).physical_us, 5000);
  EXPECT_EQ(UnpackHlc(b).logical, 1u);
}

TEST(HlcTest, LogicalOverflowAdvancesOneMicrosecond) {
  FakeMicros fake;
  fake.us->store(7);
  HybridClock clock(fake.Clock());
  uint64_t last = 0;
  for (int i = 0; i <= static_cast<int>(kHlcLogicalMask); ++i) {
    const uint64_t t = clock.Now();
    ASSERT_GT(t, last);
    last = t;
  }
  EXPECT_EQ(last, PackHlc(7, kHlcLogicalMask));
  EXPECT_EQ(clock.Now(), PackHlc(8, 0));
  EXPECT_EQ(clock.Now(), PackHlc(8, 1));
  fake.us->store(8);  // The physical clock catches up: no going back.
  EXPECT_EQ(clock.Now(), PackHlc(8, 2));
}

TEST(HlcTest, ObserveOrdersLaterTimestampsAfterTheRemoteOne) {
  FakeMicros fake;
  fake.us->store(100);
  HybridClock clock(fake.Clock());
  const uint64_t remote = PackHlc(250, 9);  // A router whose clock is ahead.
  clock.Observe(remote);
  EXPECT_EQ(clock.Last(), remote);
  EXPECT_EQ(clock.Now(), PackHlc(250, 10));
  clock.Observe(PackHlc(50, 0));  // An older one changes nothing.
  EXPECT_EQ(clock.Now(), PackHlc(250, 11));
  fake.us->store(300);
  EXPECT_EQ(clock.Now(), PackHlc(300, 0));
}

TEST(HlcTest, NegativePhysicalReadingsCountAsZero) {
  HybridClock clock([] { return int64_t{-5}; });
  EXPECT_EQ(clock.Now(), 1u);
  EXPECT_EQ(clock.Now(), 2u);
}

TEST(HlcTest, SystemClockIsNearNow) {
  HybridClock clock;
  const HlcParts parts = UnpackHlc(clock.Now());
  EXPECT_GT(parts.physical_us, int64_t{1600000000000000});  // After 2020.
}

TEST(HlcTest, PackUnpackRoundTrip) {
  const uint64_t t = PackHlc(1765034279123456, 42);
  EXPECT_EQ(t, (uint64_t{1765034279123456} << 10) | 42);
  const HlcParts parts = UnpackHlc(t);
  EXPECT_EQ(parts.physical_us, 1765034279123456);
  EXPECT_EQ(parts.logical, 42u);
  EXPECT_EQ(PackHlc(1, 0x7ff), PackHlc(1, 0x3ff));  // Logical masked to 10 bits.
}

TEST(HlcTest, ToStringShowsUtcMicrosecondsAndCounter) {
  // 2025-12-06T15:17:59.123456Z.
  EXPECT_EQ(HlcToString(PackHlc(1765034279123456, 4)), "2025-12-06T15:17:59.123456Z+4");
  EXPECT_EQ(HlcToString(0), "1970-01-01T00:00:00.000000Z+0");
}

}  // namespace
}  // namespace latentsearch::cluster

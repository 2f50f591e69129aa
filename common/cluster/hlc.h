// A hybrid logical clock: the versions a router gives writes, so that every
// replica keeps the same last write per id whatever order writes arrive in
// (last-writer-wins, docs/cluster.md).
//
// A timestamp is one uint64: (microseconds since the Unix epoch << 10) |
// logical counter (10 bits); good until the year 2255. Timestamps compare as
// plain integers. Now() never returns the same value twice and never goes
// backwards, even when the physical clock does; when the logical counter
// would overflow within one microsecond, the physical part advances by 1 µs.
//
// Microseconds, not milliseconds: a client's two writes to one id in a row
// through two routers on one machine (one system clock) are at least a
// network round trip apart, so the later one always gets the greater
// version. Across machines, writes closer together than the routers' clock
// skew may be ordered either way (docs/cluster.md). Observe(remote) makes every
// later Now() exceed `remote` (a router that learns of a newer version, e.g.
// from a replica, orders its own writes after it).
//
// Thread-safety: HybridClock is thread-safe (lock-free); the physical clock
// function must be callable from any thread. The free functions are pure.
#ifndef LATENTSEARCH_COMMON_CLUSTER_HLC_H_
#define LATENTSEARCH_COMMON_CLUSTER_HLC_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace latentsearch::cluster {

// Bits of the logical counter.
inline constexpr int kHlcLogicalBits = 10;
inline constexpr uint64_t kHlcLogicalMask = (uint64_t{1} << kHlcLogicalBits) - 1;

class HybridClock {
 public:
  // Microseconds since the Unix epoch.
  using PhysicalClock = std::function<int64_t()>;

  // The system clock (std::chrono::system_clock).
  HybridClock();
  // `physical_us` (tests inject a fake). Negative readings count as 0.
  explicit HybridClock(PhysicalClock physical_us);

  HybridClock(const HybridClock&) = delete;
  HybridClock& operator=(const HybridClock&) = delete;

  // A timestamp greater than every one this clock returned or observed:
  // max(physical << 10, last + 1).
  uint64_t Now();

  // Remembers `remote` so that later Now() values exceed it.
  void Observe(uint64_t remote);

  // The greatest timestamp returned or observed so far (0 at first).
  uint64_t Last() const { return last_.load(std::memory_order_acquire); }

 private:
  PhysicalClock physical_us_;
  std::atomic<uint64_t> last_{0};
};

// A timestamp's parts.
struct HlcParts {
  // Microseconds since the Unix epoch.
  int64_t physical_us = 0;
  // The logical counter, 0..1023.
  uint32_t logical = 0;
};

// (physical_us << 10) | logical. `physical_us` < 0 counts as 0; `logical` is
// masked to 10 bits.
uint64_t PackHlc(int64_t physical_us, uint32_t logical);
HlcParts UnpackHlc(uint64_t timestamp);

// For logs and `cluster status`: "2026-12-06T15:17:59.123456Z+4" (UTC
// microseconds, then the logical counter).
std::string HlcToString(uint64_t timestamp);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_HLC_H_

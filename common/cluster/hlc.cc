// The hybrid logical clock (hlc.h).
// Thread-safety: HybridClock is lock-free (one atomic, compare-and-swap).
#include "common/cluster/hlc.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace latentsearch::cluster {
namespace {

int64_t SystemMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HybridClock::HybridClock() : HybridClock(&SystemMillis) {}

HybridClock::HybridClock(PhysicalClock physical_ms) : physical_ms_(std::move(physical_ms)) {}

uint64_t HybridClock::Now() {
  const uint64_t physical = PackHlc(physical_ms_(), 0);
  uint64_t prev = last_.load(std::memory_order_acquire);
  uint64_t next;
  do {
    // last + 1 carries into the physical part when the counter is full:
    // exactly "advance the physical part by 1 ms, counter 0".
    next = std::max(physical, prev + 1);
  } while (!last_.compare_exchange_weak(prev, next, std::memory_order_acq_rel,
                                        std::memory_order_acquire));
  return next;
}

void HybridClock::Observe(uint64_t remote) {
  uint64_t prev = last_.load(std::memory_order_acquire);
  while (prev < remote && !last_.compare_exchange_weak(prev, remote, std::memory_order_acq_rel,
                                                       std::memory_order_acquire)) {
  }
}

uint64_t PackHlc(int64_t physical_ms, uint32_t logical) {
  const uint64_t ms = physical_ms < 0 ? 0 : static_cast<uint64_t>(physical_ms);
  return (ms << kHlcLogicalBits) | (logical & kHlcLogicalMask);
}

HlcParts UnpackHlc(uint64_t timestamp) {
  HlcParts parts;
  parts.physical_ms = static_cast<int64_t>(timestamp >> kHlcLogicalBits);
  parts.logical = static_cast<uint32_t>(timestamp & kHlcLogicalMask);
  return parts;
}

std::string HlcToString(uint64_t timestamp) {
  const HlcParts parts = UnpackHlc(timestamp);
  const absl::Time t = absl::FromUnixMillis(parts.physical_ms);
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()), "+",
                      parts.logical);
}

}  // namespace latentsearch::cluster

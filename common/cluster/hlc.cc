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

int64_t SystemMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HybridClock::HybridClock() : HybridClock(&SystemMicros) {}

HybridClock::HybridClock(PhysicalClock physical_us) : physical_us_(std::move(physical_us)) {}

uint64_t HybridClock::Now() {
  const uint64_t physical = PackHlc(physical_us_(), 0);
  uint64_t prev = last_.load(std::memory_order_acquire);
  uint64_t next;
  do {
    // last + 1 carries into the physical part when the counter is full:
    // exactly "advance the physical part by 1 µs, counter 0".
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

uint64_t PackHlc(int64_t physical_us, uint32_t logical) {
  const uint64_t us = physical_us < 0 ? 0 : static_cast<uint64_t>(physical_us);
  return (us << kHlcLogicalBits) | (logical & kHlcLogicalMask);
}

HlcParts UnpackHlc(uint64_t timestamp) {
  HlcParts parts;
  parts.physical_us = static_cast<int64_t>(timestamp >> kHlcLogicalBits);
  parts.logical = static_cast<uint32_t>(timestamp & kHlcLogicalMask);
  return parts;
}

std::string HlcToString(uint64_t timestamp) {
  const HlcParts parts = UnpackHlc(timestamp);
  const absl::Time t = absl::FromUnixMicros(parts.physical_us);
  return absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone()), "+",
                      parts.logical);
}

}  // namespace latentsearch::cluster

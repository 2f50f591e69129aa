// Time as the encoder's batcher sees it, injectable so that tests control
// it (STYLE.md point 11): Clock::Real() in production, FakeClock in tests.
// Thread-safety: both clocks are thread-safe.
#ifndef LATENTSEARCH_SERVICES_ENCODER_CLOCK_H_
#define LATENTSEARCH_SERVICES_ENCODER_CLOCK_H_

#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace latentsearch::encoder {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The wall clock (absl::Now()); a process-wide object, never deleted.
  static Clock* Real();
};

// A clock that moves only when told to. Starts at the Unix epoch + 1e9 s so
// that "now - delay" never underflows in tests.
class FakeClock final : public Clock {
 public:
  FakeClock() = default;
  absl::Time Now() const override {
    std::lock_guard<std::mutex> l(mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> l(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1000000000);
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_CLOCK_H_

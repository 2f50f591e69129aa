// Notification and BlockingCounter on std::mutex for the encoder's tests:
// Debian's Abseil is not built with ThreadSanitizer, so its
// synchronisation is invisible to the TSan build; these are not.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_TESTS_UNIT_ENCODER_SYNC_H_
#define LATENTSEARCH_TESTS_UNIT_ENCODER_SYNC_H_

#include <condition_variable>
#include <mutex>

namespace latentsearch::encoder::testing {

class Notification {
 public:
  void Notify() {
    std::lock_guard<std::mutex> l(mu_);
    notified_ = true;
    cv_.notify_all();
  }
  bool HasBeenNotified() const {
    std::lock_guard<std::mutex> l(mu_);
    return notified_;
  }
  void WaitForNotification() const {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return notified_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool notified_ = false;
};

class BlockingCounter {
 public:
  explicit BlockingCounter(int count) : count_(count) {}
  void DecrementCount() {
    std::lock_guard<std::mutex> l(mu_);
    if (--count_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return count_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_;
};

}  // namespace latentsearch::encoder::testing

#endif  // LATENTSEARCH_TESTS_UNIT_ENCODER_SYNC_H_

// Cancellation: a one-shot signal from whoever owns a call (the Search
// handler, on the client's cancel, its passed deadline or server shutdown)
// to the work the call started (the encoder call of an image query).
//
//   Cancellation cancel;                     // owned by the caller
//   encoder->Encode(request, deadline, &cancel, done);
//   ...
//   cancel.Cancel();                         // e.g. from OnCancel
//
// The work registers what cancelling it means with OnCancel; Cancel runs
// that once, and a registration after Cancel runs at once.
// Thread-safety: thread-safe. Callbacks run on the thread that calls
// Cancel (or OnCancel, when already cancelled), outside any lock.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CANCELLATION_H_
#define LATENTSEARCH_SERVICES_SEARCH_CANCELLATION_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace latentsearch::search {

class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  // Sets what Cancel does, replacing an earlier registration that has not
  // run; runs `on_cancel` now when Cancel was already called.
  void OnCancel(std::function<void()> on_cancel);

  // Marks this cancelled and runs the registered callback, if any. Later
  // calls do nothing.
  void Cancel();

  bool cancelled() const;

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_cancel_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_CANCELLATION_H_

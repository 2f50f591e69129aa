// A one-thread timer for the router's fan-outs: runs a callback at a given
// time (a search's hedge to a second replica, the end of a write's
// background wait). Callbacks run on the timer's thread, in time order, and
// must be short (they start RPCs or cancel them).
//
// Thread-safety: thread-safe. The destructor drops callbacks not yet due and
// joins the thread (it must not run on the timer's thread).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_TIMER_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_TIMER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace latentsearch::search::cluster {

class Timer {
 public:
  Timer();
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Runs `fn` at `when` (at once when it passed), unless the timer is
  // destroyed first.
  void RunAt(absl::Time when, std::function<void()> fn);

 private:
  void Loop();

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Keyed by (time, sequence): equal times run in the order scheduled.
  std::map<std::pair<absl::Time, uint64_t>, std::function<void()>> due_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_TIMER_H_

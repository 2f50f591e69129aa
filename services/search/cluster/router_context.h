// What the parts of a router share (RouterCore owns them all): its
// options, the cluster view, the timer, the worker pool, the count of
// running operations and the write clock. Passed by pointer to the
// fan-outs (router_write.h, router_search.h) and the admin calls.
// Thread-safety: every member is thread-safe; the struct is immutable.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CONTEXT_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CONTEXT_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/cluster/hlc.h"
#include "services/search/cluster/cluster_view.h"
#include "services/search/cluster/router_options.h"
#include "services/search/cluster/router_timer.h"
#include "services/search/cluster/router_workers.h"

namespace latentsearch::search::cluster {

struct RouterContext {
  const RouterCoreOptions* options = nullptr;
  ClusterView* view = nullptr;
  Timer* timer = nullptr;
  WorkerPool* workers = nullptr;
  OpTracker* ops = nullptr;
  ::latentsearch::cluster::HybridClock* clock = nullptr;

  // `deadline`, or now + options->default_timeout when there is none.
  absl::Time Bound(absl::Time deadline) const {
    return deadline == absl::InfiniteFuture() ? absl::Now() + options->default_timeout : deadline;
  }
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CONTEXT_H_

// The gateway's /metrics families: HTTP requests by operation (the route
// table's operationId) and status, their latency, open event streams, and
// the thumbnail cache (read from the Thumbnailer at scrape time).
// Thread-safety: thread-safe (the registry's families are).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_METRICS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_METRICS_H_

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/metrics.h"

namespace latentsearch::gateway {

class Thumbnailer;

class GatewayMetrics {
 public:
  // Registers the families in `registry` (not owned; must outlive this);
  // `thumbnails` (may be null) is read at each scrape.
  GatewayMetrics(rpc::MetricsRegistry* registry, const Thumbnailer* thumbnails);

  // One finished request.
  void Request(const std::string& operation, int http_status, double seconds);
  // An event stream opened (+1) or closed (-1).
  void Stream(int delta) { streams_->Add(delta); }

 private:
  // The series of one (operation, HTTP status): the families' Get builds
  // label vectors and takes a mutex; this cache keeps the handles.
  struct Series {
    rpc::Counter* requests;
    rpc::Histogram* latency;
  };
  Series Lookup(const std::string& operation, int http_status);

  rpc::CounterFamily* requests_;
  rpc::HistogramFamily* latency_;
  rpc::Gauge* streams_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, int>, Series> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_METRICS_H_

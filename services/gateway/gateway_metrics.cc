#include "services/gateway/gateway_metrics.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "services/gateway/thumbnails.h"

namespace latentsearch::gateway {

GatewayMetrics::GatewayMetrics(rpc::MetricsRegistry* registry, const Thumbnailer* thumbnails) {
  requests_ = registry->AddCounter("latentsearch_gateway_requests_total",
                                   "HTTP requests answered, by route operation and HTTP status.",
                                   {"operation", "status"});
  latency_ = registry->AddHistogram("latentsearch_gateway_request_seconds",
                                    "Time from request to response, by route operation (event "
                                    "streams and downloads: until the headers).",
                                    {"operation"}, rpc::LatencyBuckets());
  streams_ = registry
                 ->AddGauge("latentsearch_gateway_open_streams",
                            "Server-sent event streams and downloads in flight.", {})
                 ->Get({});
  if (thumbnails == nullptr) return;
  registry->AddCallbackCounter(
      "latentsearch_gateway_thumbnail_requests_total",
      "Thumbnail lookups: hit / miss of the cache, refused (outside --image_roots).", {"result"},
      [thumbnails] {
        const Thumbnailer::Stats s = thumbnails->stats();
        return std::vector<rpc::GaugeSample>{{{"hit"}, static_cast<double>(s.hits)},
                                             {{"miss"}, static_cast<double>(s.misses)},
                                             {{"refused"}, static_cast<double>(s.refused)}};
      });
  registry->AddCallbackGauge(
      "latentsearch_gateway_thumbnail_cache_bytes", "Bytes of PNG thumbnails held in the cache.",
      {}, [thumbnails] {
        return std::vector<rpc::GaugeSample>{{{}, static_cast<double>(thumbnails->stats().bytes)}};
      });
}

GatewayMetrics::Series GatewayMetrics::Lookup(const std::string& operation, int http_status) {
  std::pair<std::string, int> key(operation, http_status);
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = series_.find(key);
    if (it != series_.end()) return it->second;
  }
  const Series s{requests_->Get({operation, absl::StrCat(http_status)}),
                 latency_->Get({operation})};
  absl::MutexLock l(&mu_);
  series_.emplace(std::move(key), s);
  return s;
}

void GatewayMetrics::Request(const std::string& operation, int http_status, double seconds) {
  const Series s = Lookup(operation, http_status);
  s.requests->Increment();
  s.latency->Observe(seconds);
}

}  // namespace latentsearch::gateway

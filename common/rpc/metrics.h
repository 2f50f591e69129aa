// The services' metrics registry for the /metrics page: counters, gauges
// and histograms with fixed buckets, grouped in labelled families, rendered
// in the Prometheus text exposition format (version 0.0.4).
//
// Storage and exposition are Debian's prometheus-cpp-core 1.0
// (prometheus::Registry, Family<Counter/Gauge/Histogram>, TextSerializer);
// this is a thin layer over it that keeps our API (label values by position,
// abort on misuse instead of exceptions, callback metrics computed at each
// render) and keeps prometheus-cpp's headers out of our callers. HTTP is
// cpp-httplib (metrics_server.h), not prometheus-cpp-pull's civetweb.
//
//   MetricsRegistry registry;
//   CounterFamily* requests = registry.AddCounter(
//       "latentsearch_things_total", "Things done.", {"kind"});
//   requests->Get({"red"})->Increment();
//   HistogramFamily* latency = registry.AddHistogram(
//       "latentsearch_thing_seconds", "Time per thing.", {}, LatencyBuckets());
//   latency->Get({})->Observe(0.012);
//   registry.AddCallbackGauge("latentsearch_items", "Items.", {"collection"},
//                             [] { return std::vector<GaugeSample>{...}; });
//   std::string page = registry.Render();
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]* (not starting with "__"), label
// names [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__", not "le" on
// histograms); a bad name, a duplicate family name or a wrong number of label
// values is a programming error and aborts with a message. Label values are
// any UTF-8 text (escaped on render). The page lists families in
// registration order, a family's labels in the order they were declared and
// its series sorted by label values; a family without series still shows its
// HELP and TYPE lines.
//
// Thread-safety: everything is thread-safe. Family and metric pointers stay
// valid as long as the registry; Get() takes a mutex (cache the pointer on
// hot paths), Counter/Gauge updates are lock-free atomics, Histogram::Observe
// takes the histogram's own short mutex (prometheus-cpp). Callback metrics
// run on the rendering thread, outside the registry's locks.
#ifndef LATENTSEARCH_COMMON_RPC_METRICS_H_
#define LATENTSEARCH_COMMON_RPC_METRICS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace latentsearch::rpc {

template <typename T>
class MetricFamily;

// A monotonically increasing value (events, seconds spent).
class Counter {
 public:
  // `delta` must be >= 0 (negative deltas are ignored: counters never go down).
  void Increment(double delta = 1);
  double value() const;

 private:
  friend class MetricFamily<Counter>;
  using Impl = prometheus::Counter;
  explicit Counter(Impl* impl) : impl_(impl) {}
  Impl* const impl_;  // Owned by the prometheus family.
};

// A value that goes up and down (sizes, last durations).
class Gauge {
 public:
  void Set(double value);
  void Add(double delta);
  double value() const;

 private:
  friend class MetricFamily<Gauge>;
  using Impl = prometheus::Gauge;
  explicit Gauge(Impl* impl) : impl_(impl) {}
  Impl* const impl_;  // Owned by the prometheus family.
};

// Counts observations into fixed, cumulative buckets (upper bounds, "le",
// inclusive), plus their sum and count.
class Histogram {
 public:
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 (last = +Inf = count)
    double sum = 0;
    uint64_t count = 0;
  };
  // A consistent view (taken under the histogram's mutex).
  Snapshot snapshot() const;

 private:
  friend class MetricFamily<Histogram>;
  using Impl = prometheus::Histogram;
  explicit Histogram(Impl* impl) : impl_(impl) {}
  Impl* const impl_;  // Owned by the prometheus family.
};

// Bucket helpers. Latencies in seconds from 100 us to 60 s.
std::vector<double> LatencyBuckets();
// `count` bounds start, start*factor, ... (start > 0, factor > 1).
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// `count` bounds start, start+width, ...
std::vector<double> LinearBuckets(double start, double width, int count);

// One family: a name, help text, label names, and one metric per distinct
// tuple of label values (created on first Get, never removed).
template <typename T>
class MetricFamily {
 public:
  // The metric for `label_values` (one per label name, in order).
  T* Get(const std::vector<std::string>& label_values);

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::vector<std::string> label_names, std::vector<double> bounds,
               prometheus::Family<typename T::Impl>* family)
      : name_(std::move(name)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)),
        family_(family) {}
  const std::string name_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // Histograms only.
  // Owned by the registry's prometheus::Registry; holds the values.
  prometheus::Family<typename T::Impl>* const family_;
  mutable std::mutex mu_;
  // Our handles, one per series (the values live in family_).
  std::map<std::vector<std::string>, std::unique_ptr<T>> metrics_;  // Guarded by mu_.
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

// A sample of a callback gauge.
struct GaugeSample {
  std::vector<std::string> label_values;
  double value = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily* AddCounter(const std::string& name, const std::string& help,
                            const std::vector<std::string>& label_names);
  GaugeFamily* AddGauge(const std::string& name, const std::string& help,
                        const std::vector<std::string>& label_names);
  HistogramFamily* AddHistogram(const std::string& name, const std::string& help,
                                const std::vector<std::string>& label_names,
                                std::vector<double> bounds);
  // A gauge family whose samples `collect` computes at each render (e.g.
  // index sizes read from the serving snapshot). `collect` must be
  // thread-safe and must not call into this registry. The page shows
  // exactly the samples of the latest call (a series that disappears, e.g.
  // a deleted collection, is no longer exported).
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        const std::vector<std::string>& label_names,
                        std::function<std::vector<GaugeSample>()> collect);

  // The same for a counter whose value lives elsewhere (e.g. a component's
  // own statistics); the values must never decrease.
  void AddCallbackCounter(const std::string& name, const std::string& help,
                          const std::vector<std::string>& label_names,
                          std::function<std::vector<GaugeSample>()> collect);

  // Every family in registration order, in the text exposition format
  // (prometheus::TextSerializer).
  std::string Render() const;

 private:
  struct Entry;
  void Register(std::unique_ptr<Entry> entry);

  const std::unique_ptr<prometheus::Registry> registry_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // Guarded by mu_.
};

// HELP text escaping of the text format ('\\' and newline). prometheus-cpp
// 1.0.1 writes help verbatim, so the registry escapes it before handing it
// over.
std::string EscapeHelp(const std::string& help);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_METRICS_H_

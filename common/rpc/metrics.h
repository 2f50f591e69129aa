// A small metrics registry for the services' /metrics page: counters,
// gauges and histograms with fixed buckets, grouped in labelled families,
// rendered in the Prometheus text exposition format (version 0.0.4).
//
// Debian 12 packages prometheus-cpp (prometheus-cpp-dev); we write the
// format ourselves instead (one file, no civetweb, no second HTTP server),
// and tests check the output with python3-prometheus-client's parser.
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
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
// (not starting with "__", not "le" on histograms); a bad name, a duplicate
// family name or a wrong number of label values is a programming error and
// aborts with a message. Label values are any UTF-8 text (escaped on render).
//
// Thread-safety: everything is thread-safe. Family and metric pointers stay
// valid as long as the registry; Get() takes a mutex (cache the pointer on
// hot paths), Increment/Set/Observe are lock-free atomics. Callback gauges
// run on the rendering thread, outside the registry's lock.
#ifndef LATENTSEARCH_COMMON_RPC_METRICS_H_
#define LATENTSEARCH_COMMON_RPC_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace latentsearch::rpc {

// A monotonically increasing value (events, seconds spent).
class Counter {
 public:
  // `delta` must be >= 0 (negative deltas are ignored: counters never go down).
  void Increment(double delta = 1);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (sizes, last durations).
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed, cumulative buckets (upper bounds, "le"),
// plus their sum and count.
class Histogram {
 public:
  // `bounds` strictly increasing and finite (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 (last = +Inf = count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  // Per-bucket (non-cumulative) counts; the last one is the +Inf bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
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
  MetricFamily(std::string name, std::vector<std::string> label_names,
               std::vector<double> bounds)
      : name_(std::move(name)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  const std::string name_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // Histograms only.
  mutable std::mutex mu_;
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
  // thread-safe and must not call into this registry.
  void AddCallbackGauge(const std::string& name, const std::string& help,
                        const std::vector<std::string>& label_names,
                        std::function<std::vector<GaugeSample>()> collect);

  // The same for a counter whose value lives elsewhere (e.g. a component's
  // own statistics); the values must never decrease.
  void AddCallbackCounter(const std::string& name, const std::string& help,
                          const std::vector<std::string>& label_names,
                          std::function<std::vector<GaugeSample>()> collect);

  // Every family in registration order, in the text exposition format.
  std::string Render() const;

 private:
  struct Entry;
  void Register(std::unique_ptr<Entry> entry);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;  // Guarded by mu_.
};

// The text format's escaping, exposed for tests: label values escape '\\',
// '"' and newline; help text escapes '\\' and newline.
std::string EscapeLabelValue(const std::string& value);
std::string EscapeHelp(const std::string& help);
// "1", "0.25", "+Inf", "-Inf", "NaN", shortest round-trip form otherwise.
std::string FormatMetricValue(double value);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_METRICS_H_

#include "common/rpc/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace latentsearch::rpc {
namespace {

[[noreturn]] void Misuse(const std::string& what) {
  std::fprintf(stderr, "metrics registry misuse: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void AtomicAdd(std::atomic<double>& target, double delta) {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + delta, std::memory_order_relaxed)) {
  }
}

bool ValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!(alpha || (i > 0 && c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool ValidLabelName(const std::string& name) {
  if (name.empty() || name.find(':') != std::string::npos) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  return ValidMetricName(name);
}

void CheckBounds(const std::string& name, const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      Misuse(absl::StrCat("histogram '", name,
                          "': bucket bounds must be finite and strictly increasing"));
    }
  }
}

template <typename T>
std::unique_ptr<T> MakeMetric(const std::vector<double>& bounds);
template <>
std::unique_ptr<Counter> MakeMetric<Counter>(const std::vector<double>&) {
  return std::make_unique<Counter>();
}
template <>
std::unique_ptr<Gauge> MakeMetric<Gauge>(const std::vector<double>&) {
  return std::make_unique<Gauge>();
}
template <>
std::unique_ptr<Histogram> MakeMetric<Histogram>(const std::vector<double>& bounds) {
  return std::make_unique<Histogram>(bounds);
}

// {a="x",b="y"} (empty when there are no labels), optionally with one more
// label appended (a histogram's "le").
std::string LabelText(const std::vector<std::string>& names,
                      const std::vector<std::string>& values, const std::string& extra_name = "",
                      const std::string& extra_value = "") {
  std::vector<std::string> parts;
  for (size_t i = 0; i < names.size(); ++i) {
    parts.push_back(absl::StrCat(names[i], "=\"", EscapeLabelValue(values[i]), "\""));
  }
  if (!extra_name.empty()) {
    parts.push_back(absl::StrCat(extra_name, "=\"", EscapeLabelValue(extra_value), "\""));
  }
  if (parts.empty()) return "";
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}

}  // namespace

void Counter::Increment(double delta) {
  if (!(delta >= 0)) return;
  AtomicAdd(value_, delta);
}

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && !(value <= bounds_[i])) ++i;
  // Sum first, then the bucket: a concurrent snapshot may see the sum
  // slightly ahead of the count, never a count without its sum.
  AtomicAdd(sum_, value);
  counts_[i].fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i) out.push_back(start + width * i);
  return out;
}

template <typename T>
T* MetricFamily<T>::Get(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    Misuse(absl::StrCat("'", name_, "' has ", label_names_.size(), " label(s) (",
                        absl::StrJoin(label_names_, ","), "), got ", label_values.size(),
                        " value(s)"));
  }
  std::lock_guard<std::mutex> l(mu_);
  std::unique_ptr<T>& slot = metrics_[label_values];
  if (slot == nullptr) slot = MakeMetric<T>(bounds_);
  return slot.get();
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

struct MetricsRegistry::Entry {
  enum class Kind { kCounter, kGauge, kHistogram, kCallbackGauge, kCallbackCounter };
  Kind kind;
  std::string name;
  std::string help;
  std::vector<std::string> label_names;
  std::unique_ptr<CounterFamily> counters;
  std::unique_ptr<GaugeFamily> gauges;
  std::unique_ptr<HistogramFamily> histograms;
  std::function<std::vector<GaugeSample>()> collect;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::Register(std::unique_ptr<Entry> entry) {
  if (!ValidMetricName(entry->name)) {
    Misuse(absl::StrCat("metric name '", entry->name,
                        "' must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  std::set<std::string> seen;
  for (const std::string& l : entry->label_names) {
    if (!ValidLabelName(l) || !seen.insert(l).second ||
        (entry->kind == Entry::Kind::kHistogram && l == "le")) {
      Misuse(absl::StrCat("'", entry->name, "': label name '", l,
                          "' is invalid, reserved or repeated"));
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& e : entries_) {
    if (e->name == entry->name) {
      Misuse(absl::StrCat("metric '", entry->name, "' is registered twice"));
    }
  }
  entries_.push_back(std::move(entry));
}

CounterFamily* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                           const std::vector<std::string>& label_names) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCounter;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->counters.reset(new CounterFamily(name, label_names, {}));
  CounterFamily* out = e->counters.get();
  Register(std::move(e));
  return out;
}

GaugeFamily* MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                       const std::vector<std::string>& label_names) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kGauge;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->gauges.reset(new GaugeFamily(name, label_names, {}));
  GaugeFamily* out = e->gauges.get();
  Register(std::move(e));
  return out;
}

HistogramFamily* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                               const std::vector<std::string>& label_names,
                                               std::vector<double> bounds) {
  CheckBounds(name, bounds);
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kHistogram;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->histograms.reset(new HistogramFamily(name, label_names, std::move(bounds)));
  HistogramFamily* out = e->histograms.get();
  Register(std::move(e));
  return out;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       const std::vector<std::string>& label_names,
                                       std::function<std::vector<GaugeSample>()> collect) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCallbackGauge;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->collect = std::move(collect);
  Register(std::move(e));
}

void MetricsRegistry::AddCallbackCounter(const std::string& name, const std::string& help,
                                         const std::vector<std::string>& label_names,
                                         std::function<std::vector<GaugeSample>()> collect) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCallbackCounter;
  e->name = name;
  e->help = help;
  e->label_names = label_names;
  e->collect = std::move(collect);
  Register(std::move(e));
}

namespace {

// Copies a family's (label values, metric) pairs under its lock; metrics
// are never removed, so the pointers stay valid after the lock is dropped.
template <typename T>
std::vector<std::pair<std::vector<std::string>, const T*>> Members(
    const std::map<std::vector<std::string>, std::unique_ptr<T>>& metrics, std::mutex& mu) {
  std::lock_guard<std::mutex> l(mu);
  std::vector<std::pair<std::vector<std::string>, const T*>> out;
  for (const auto& [labels, metric] : metrics) out.emplace_back(labels, metric.get());
  return out;
}

}  // namespace

std::string MetricsRegistry::Render() const {
  std::vector<const Entry*> entries;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  std::string out;
  for (const Entry* e : entries) {
    const char* type = "gauge";
    if (e->kind == Entry::Kind::kCounter || e->kind == Entry::Kind::kCallbackCounter) {
      type = "counter";
    }
    if (e->kind == Entry::Kind::kHistogram) type = "histogram";
    absl::StrAppend(&out, "# HELP ", e->name, " ", EscapeHelp(e->help), "\n", "# TYPE ",
                    e->name, " ", type, "\n");
    switch (e->kind) {
      case Entry::Kind::kCounter:
        for (const auto& [labels, c] : Members(e->counters->metrics_, e->counters->mu_)) {
          absl::StrAppend(&out, e->name, LabelText(e->label_names, labels), " ",
                          FormatMetricValue(c->value()), "\n");
        }
        break;
      case Entry::Kind::kGauge:
        for (const auto& [labels, g] : Members(e->gauges->metrics_, e->gauges->mu_)) {
          absl::StrAppend(&out, e->name, LabelText(e->label_names, labels), " ",
                          FormatMetricValue(g->value()), "\n");
        }
        break;
      case Entry::Kind::kHistogram:
        for (const auto& [labels, h] :
             Members(e->histograms->metrics_, e->histograms->mu_)) {
          const Histogram::Snapshot s = h->snapshot();
          for (size_t i = 0; i <= s.bounds.size(); ++i) {
            const std::string le =
                i < s.bounds.size() ? FormatMetricValue(s.bounds[i]) : "+Inf";
            absl::StrAppend(&out, e->name, "_bucket",
                            LabelText(e->label_names, labels, "le", le), " ",
                            s.cumulative[i], "\n");
          }
          const std::string l = LabelText(e->label_names, labels);
          absl::StrAppend(&out, e->name, "_sum", l, " ", FormatMetricValue(s.sum), "\n",
                          e->name, "_count", l, " ", s.count, "\n");
        }
        break;
      case Entry::Kind::kCallbackGauge:
      case Entry::Kind::kCallbackCounter: {
        std::vector<GaugeSample> samples = e->collect();
        for (const GaugeSample& s : samples) {
          if (s.label_values.size() != e->label_names.size()) {
            Misuse(absl::StrCat("callback metric '", e->name, "' returned ",
                                s.label_values.size(), " label value(s) for ",
                                e->label_names.size(), " label(s)"));
          }
          absl::StrAppend(&out, e->name, LabelText(e->label_names, s.label_values), " ",
                          FormatMetricValue(s.value), "\n");
        }
        break;
      }
    }
  }
  return out;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // Shortest form that reads back to the same double.
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

}  // namespace latentsearch::rpc

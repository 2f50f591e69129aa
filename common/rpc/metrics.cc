#include "common/rpc/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/logging.h"
#include "prometheus/check_names.h"
#include "prometheus/client_metric.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace latentsearch::rpc {
namespace {

// A programmer error (STYLE.md point 6): logged through glog, then abort.
[[noreturn]] void Misuse(const std::string& what) {
  LOG(ERROR) << "metrics registry misuse: " << what;
  google::FlushLogFiles(google::GLOG_INFO);
  std::abort();
}

bool ValidMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!(alpha || (i > 0 && c >= '0' && c <= '9'))) return false;
  }
  // prometheus-cpp also reserves "__" (it would throw).
  return prometheus::CheckMetricName(name);
}

bool ValidLabelName(const std::string& name) {
  if (name.empty() || name.find(':') != std::string::npos) return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return false;
  return ValidMetricName(name) && prometheus::CheckLabelName(name);
}

void CheckBounds(const std::string& name, const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
      Misuse(absl::StrCat("histogram '", name,
                          "': bucket bounds must be finite and strictly increasing"));
    }
  }
}

// prometheus::Family<T>::Add, which finds or creates the series. It throws
// only on label names, which Register has validated; caught anyway so that
// nothing throws through our API.
prometheus::Counter* AddSeries(prometheus::Family<prometheus::Counter>* family,
                               const prometheus::Labels& labels, const std::vector<double>&) {
  return &family->Add(labels);
}
prometheus::Gauge* AddSeries(prometheus::Family<prometheus::Gauge>* family,
                             const prometheus::Labels& labels, const std::vector<double>&) {
  return &family->Add(labels);
}
prometheus::Histogram* AddSeries(prometheus::Family<prometheus::Histogram>* family,
                                 const prometheus::Labels& labels,
                                 const std::vector<double>& bounds) {
  return &family->Add(labels, bounds);
}

// prometheus-cpp keeps labels in a std::map (sorted by name) and series in
// an unordered_map: put each series' labels back in declaration order (the
// serializer appends "le" after them) and sort the series by label values,
// so that the page is stable and reads like the code that declared it.
void OrderLikeDeclared(const std::vector<std::string>& label_names,
                       std::vector<prometheus::ClientMetric>* metrics) {
  for (prometheus::ClientMetric& m : *metrics) {
    std::vector<prometheus::ClientMetric::Label> ordered;
    ordered.reserve(m.label.size());
    for (const std::string& name : label_names) {
      for (prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == name) {
          ordered.push_back(std::move(l));
          break;
        }
      }
    }
    m.label = std::move(ordered);
  }
  std::sort(metrics->begin(), metrics->end(),
            [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
              return std::lexicographical_compare(
                  a.label.begin(), a.label.end(), b.label.begin(), b.label.end(),
                  [](const prometheus::ClientMetric::Label& x,
                     const prometheus::ClientMetric::Label& y) { return x.value < y.value; });
            });
}

}  // namespace

void Counter::Increment(double delta) {
  if (!(delta >= 0)) return;  // Also drops NaN.
  impl_->Increment(delta);
}
double Counter::value() const { return impl_->Value(); }

void Gauge::Set(double value) { impl_->Set(value); }
void Gauge::Add(double delta) { impl_->Increment(delta); }
double Gauge::value() const { return impl_->Value(); }

void Histogram::Observe(double value) { impl_->Observe(value); }

Histogram::Snapshot Histogram::snapshot() const {
  const prometheus::ClientMetric m = impl_->Collect();
  Snapshot s;
  for (const prometheus::ClientMetric::Bucket& b : m.histogram.bucket) {
    if (std::isfinite(b.upper_bound)) s.bounds.push_back(b.upper_bound);
    s.cumulative.push_back(b.cumulative_count);
  }
  s.sum = m.histogram.sample_sum;
  s.count = m.histogram.sample_count;
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
  if (slot == nullptr) {
    prometheus::Labels labels;
    for (size_t i = 0; i < label_names_.size(); ++i) labels[label_names_[i]] = label_values[i];
    try {
      slot.reset(new T(AddSeries(family_, labels, bounds_)));
    } catch (const std::exception& e) {
      Misuse(absl::StrCat("'", name_, "': prometheus-cpp refused a series: ", e.what()));
    }
  }
  return slot.get();
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

struct MetricsRegistry::Entry {
  enum class Kind { kCounter, kGauge, kHistogram, kCallbackGauge, kCallbackCounter };
  Kind kind;
  std::string name;
  std::string help;  // Escaped for the text format.
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // Histograms only.
  std::unique_ptr<CounterFamily> counters;
  std::unique_ptr<GaugeFamily> gauges;
  std::unique_ptr<HistogramFamily> histograms;
  std::function<std::vector<GaugeSample>()> collect;

  prometheus::MetricType type() const {
    switch (kind) {
      case Kind::kCounter:
      case Kind::kCallbackCounter:
        return prometheus::MetricType::Counter;
      case Kind::kHistogram:
        return prometheus::MetricType::Histogram;
      case Kind::kGauge:
      case Kind::kCallbackGauge:
        break;
    }
    return prometheus::MetricType::Gauge;
  }
};

MetricsRegistry::MetricsRegistry() : registry_(std::make_unique<prometheus::Registry>()) {}
MetricsRegistry::~MetricsRegistry() = default;

void MetricsRegistry::Register(std::unique_ptr<Entry> entry) {
  if (!ValidMetricName(entry->name)) {
    Misuse(absl::StrCat("metric name '", entry->name,
                        "' must match [a-zA-Z_:][a-zA-Z0-9_:]* and not start with '__'"));
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
  // The prometheus family is created under mu_ so that the duplicate check
  // above covers it too.
  try {
    switch (entry->kind) {
      case Entry::Kind::kCounter:
        entry->counters.reset(new CounterFamily(
            entry->name, entry->label_names, {},
            &prometheus::BuildCounter().Name(entry->name).Help(entry->help).Register(*registry_)));
        break;
      case Entry::Kind::kGauge:
        entry->gauges.reset(new GaugeFamily(
            entry->name, entry->label_names, {},
            &prometheus::BuildGauge().Name(entry->name).Help(entry->help).Register(*registry_)));
        break;
      case Entry::Kind::kHistogram:
        entry->histograms.reset(new HistogramFamily(entry->name, entry->label_names, entry->bounds,
                                                    &prometheus::BuildHistogram()
                                                         .Name(entry->name)
                                                         .Help(entry->help)
                                                         .Register(*registry_)));
        break;
      case Entry::Kind::kCallbackGauge:
      case Entry::Kind::kCallbackCounter:
        break;  // Built at each Render.
    }
  } catch (const std::exception& e) {
    Misuse(absl::StrCat("'", entry->name, "': prometheus-cpp refused the family: ", e.what()));
  }
  entries_.push_back(std::move(entry));
}

CounterFamily* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                           const std::vector<std::string>& label_names) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCounter;
  e->name = name;
  e->help = EscapeHelp(help);
  e->label_names = label_names;
  Entry* raw = e.get();
  Register(std::move(e));
  return raw->counters.get();
}

GaugeFamily* MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                       const std::vector<std::string>& label_names) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kGauge;
  e->name = name;
  e->help = EscapeHelp(help);
  e->label_names = label_names;
  Entry* raw = e.get();
  Register(std::move(e));
  return raw->gauges.get();
}

HistogramFamily* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                               const std::vector<std::string>& label_names,
                                               std::vector<double> bounds) {
  CheckBounds(name, bounds);
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kHistogram;
  e->name = name;
  e->help = EscapeHelp(help);
  e->label_names = label_names;
  e->bounds = std::move(bounds);
  Entry* raw = e.get();
  Register(std::move(e));
  return raw->histograms.get();
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       const std::vector<std::string>& label_names,
                                       std::function<std::vector<GaugeSample>()> collect) {
  auto e = std::make_unique<Entry>();
  e->kind = Entry::Kind::kCallbackGauge;
  e->name = name;
  e->help = EscapeHelp(help);
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
  e->help = EscapeHelp(help);
  e->label_names = label_names;
  e->collect = std::move(collect);
  Register(std::move(e));
}

// Callback metrics are not stored in the prometheus::Registry: their
// samples are turned into prometheus::MetricFamily values at each render
// (what a prometheus::Collectable does). Copying them into registry gauges
// instead would keep series that the callback no longer returns (deleted
// collections) and cannot set a prometheus::Counter to a value.
std::string MetricsRegistry::Render() const {
  std::vector<const Entry*> entries;
  {
    std::lock_guard<std::mutex> l(mu_);
    entries.reserve(entries_.size());
    for (const auto& e : entries_) entries.push_back(e.get());
  }
  // Families without series are absent from Collect().
  std::vector<prometheus::MetricFamily> stored = registry_->Collect();
  std::unordered_map<std::string, prometheus::MetricFamily*> stored_by_name;
  for (prometheus::MetricFamily& f : stored) stored_by_name[f.name] = &f;

  std::vector<prometheus::MetricFamily> page;
  page.reserve(entries.size());
  for (const Entry* e : entries) {
    prometheus::MetricFamily family;
    family.name = e->name;
    family.help = e->help;
    family.type = e->type();
    if (e->collect) {
      std::vector<GaugeSample> samples = e->collect();
      family.metric.reserve(samples.size());
      for (GaugeSample& s : samples) {
        if (s.label_values.size() != e->label_names.size()) {
          Misuse(absl::StrCat("callback metric '", e->name, "' returned ", s.label_values.size(),
                              " label value(s) for ", e->label_names.size(), " label(s)"));
        }
        prometheus::ClientMetric m;
        for (size_t i = 0; i < s.label_values.size(); ++i) {
          m.label.push_back({e->label_names[i], std::move(s.label_values[i])});
        }
        if (family.type == prometheus::MetricType::Counter) {
          m.counter.value = s.value;
        } else {
          m.gauge.value = s.value;
        }
        family.metric.push_back(std::move(m));
      }
    } else if (auto it = stored_by_name.find(e->name); it != stored_by_name.end()) {
      family.metric = std::move(it->second->metric);
      OrderLikeDeclared(e->label_names, &family.metric);
    }
    page.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(page);
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

}  // namespace latentsearch::rpc

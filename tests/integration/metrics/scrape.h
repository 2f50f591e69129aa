// Helpers for tests that scrape a service's /metrics: find the address the
// binary logged, fetch the page, and parse it with the reference parser
// (python3-prometheus-client through parse_metrics.py, not our code).
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_TESTS_INTEGRATION_METRICS_SCRAPE_H_
#define LATENTSEARCH_TESTS_INTEGRATION_METRICS_SCRAPE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace latentsearch::testing {

// Polls `log_path` until a line holds `marker` and returns the word after
// it (e.g. marker "metrics listening on " -> "127.0.0.1:43127").
// DEADLINE_EXCEEDED with the log when it does not show up in time.
absl::StatusOr<std::string> WaitForLogWord(const std::string& log_path, const std::string& marker,
                                           absl::Duration timeout = absl::Seconds(30));

// GET http://address/path; the body when the status is 200.
absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path);

struct ParsedMetrics {
  std::map<std::string, std::string> family_types;  // name -> counter, gauge, ...
  // 'name{k="v",...}' (labels sorted by name) -> value.
  std::map<std::string, double> samples;
  // The sample's value, or 0 when absent (a counter not yet incremented).
  double Value(const std::string& key) const;
  // Sum over the samples whose key starts with `prefix`.
  double Sum(const std::string& prefix) const;
};

// Parses `page` with prometheus_client's text_string_to_metric_families.
// INVALID_ARGUMENT with the parser's message when the page does not parse.
absl::StatusOr<ParsedMetrics> ParseWithPrometheusClient(const std::string& page);

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_TESTS_INTEGRATION_METRICS_SCRAPE_H_

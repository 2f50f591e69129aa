// A closed-loop load generator: `concurrency` threads each call `rpc` back
// to back for `duration`, and the latencies are summarised. Used by
// `latentsearch bench` (and the search/encoder gRPC benchmarks).
// Thread-safety: RunLoad calls `rpc` from `concurrency` threads at once;
// `rpc` must be thread-safe.
#ifndef LATENTSEARCH_CLIENTS_CLI_LOAD_GEN_H_
#define LATENTSEARCH_CLIENTS_CLI_LOAD_GEN_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace latentsearch::cli {

struct LoadStats {
  int concurrency = 0;
  uint64_t calls = 0;
  uint64_t errors = 0;
  // The first error seen (OK when none).
  absl::Status first_error;
  double seconds = 0;
  double qps = 0;
  // Latency percentiles, microseconds.
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double mean_us = 0;
};

// `rpc(thread_index, call_index)` performs one call.
LoadStats RunLoad(const std::function<absl::Status(int, uint64_t)>& rpc, int concurrency,
                  absl::Duration duration, absl::Duration warmup = absl::Milliseconds(200));

// One aligned table row: "name  conc  qps  p50  p90  p99  errors".
std::string FormatLoadRow(const std::string& name, const LoadStats& stats);
std::string LoadHeader();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_LOAD_GEN_H_

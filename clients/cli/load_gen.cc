#include "clients/cli/load_gen.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"

namespace latentsearch::cli {

LoadStats RunLoad(const std::function<absl::Status(int, uint64_t)>& rpc, int concurrency,
                  absl::Duration duration, absl::Duration warmup) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto measure_from = start + absl::ToChronoNanoseconds(warmup);
  const auto stop_at = measure_from + absl::ToChronoNanoseconds(duration);
  std::vector<std::vector<double>> latencies(concurrency);
  std::vector<uint64_t> errors(concurrency, 0);
  std::mutex error_mu;
  absl::Status first_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0;; ++i) {
        auto before = Clock::now();
        if (before >= stop_at) break;
        absl::Status s = rpc(t, i);
        auto after = Clock::now();
        if (before < measure_from) continue;
        if (!s.ok()) {
          ++errors[t];
          std::lock_guard<std::mutex> l(error_mu);
          if (first_error.ok()) first_error = s;
          continue;
        }
        latencies[t].push_back(std::chrono::duration<double, std::micro>(after - before).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  LoadStats stats;
  stats.concurrency = concurrency;
  for (int t = 0; t < concurrency; ++t) {
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
    stats.errors += errors[t];
  }
  stats.first_error = first_error;
  stats.calls = all.size();
  stats.seconds = absl::ToDoubleSeconds(duration);
  stats.qps = stats.calls / stats.seconds;
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      size_t i = static_cast<size_t>(p * (all.size() - 1));
      return all[i];
    };
    stats.p50_us = pct(0.50);
    stats.p90_us = pct(0.90);
    stats.p99_us = pct(0.99);
    double sum = 0;
    for (double v : all) sum += v;
    stats.mean_us = sum / all.size();
  }
  return stats;
}

std::string LoadHeader() {
  return absl::StrFormat("%-28s %5s %10s %9s %9s %9s %7s", "rpc", "conc", "qps", "p50 us", "p90 us",
                         "p99 us", "errors");
}

std::string FormatLoadRow(const std::string& name, const LoadStats& s) {
  return absl::StrFormat("%-28s %5d %10.0f %9.1f %9.1f %9.1f %7d", name, s.concurrency, s.qps,
                         s.p50_us, s.p90_us, s.p99_us, s.errors);
}

}  // namespace latentsearch::cli

#include "common/data/parallel.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace latentsearch::data::internal {

absl::Status ParallelFor(size_t n, int max_threads, const std::function<absl::Status(size_t)>& fn) {
  if (n == 0) return absl::OkStatus();
  size_t threads = max_threads > 0 ? static_cast<size_t>(max_threads)
                                   : std::max<size_t>(1, std::thread::hardware_concurrency());
  threads = std::min(threads, n);

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  size_t first_error_index = std::numeric_limits<size_t>::max();
  absl::Status first_error;

  auto worker = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) return;
      absl::Status s = fn(i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (i < first_error_index) {
          first_error_index = i;
          first_error = std::move(s);
        }
        failed.store(true, std::memory_order_relaxed);
      }
    }
  };

  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // Fewer threads than asked for; the others take up the work.
    }
  }
  worker();
  for (std::thread& t : pool) t.join();
  return first_error;
}

}  // namespace latentsearch::data::internal

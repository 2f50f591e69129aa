// Internal to common/data: runs independent per-item work (one file, one
// image) on a few threads and reports the first failing item.
#ifndef LATENTSEARCH_COMMON_DATA_PARALLEL_H_
#define LATENTSEARCH_COMMON_DATA_PARALLEL_H_

#include <cstddef>
#include <functional>

#include "absl/status/status.h"

namespace latentsearch::data::internal {

// Calls fn(i) for every i in [0, n) on up to `max_threads` threads (0 = the
// hardware concurrency), the calling thread included. Items are handed out in
// increasing order; after a failure no new items start. Returns the error of
// the lowest failing index — the same error a sequential loop would return —
// or OK. fn must be safe to call concurrently for distinct i.
// Thread-safety: thread-safe; blocks until every started item has finished.
absl::Status ParallelFor(size_t n, int max_threads, const std::function<absl::Status(size_t)>& fn);

}  // namespace latentsearch::data::internal

#endif  // LATENTSEARCH_COMMON_DATA_PARALLEL_H_

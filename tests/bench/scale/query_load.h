// Query figures of the scale benchmark over gRPC Search: recall@k of the
// node's answers against ground_truth.h, and throughput and latency at a
// client concurrency (threads each calling Search back to back on one
// channel for a fixed time).
// Thread-safety: functions are thread-safe when their stub is.
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_QUERY_LOAD_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_QUERY_LOAD_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::bench {

struct RecallFigure {
  double recall = 0;
  // Queries the node answered exactly although HNSW was asked for.
  uint32_t exact_fallbacks = 0;
};

// Sends requests[q] for every q < truth.size() one after the other; the
// answers' ids "v<row>" are compared with truth[q] (rows).
absl::StatusOr<RecallFigure> MeasureRecall(v1::Search::Stub* stub,
                                           const std::vector<v1::SearchRequest>& requests,
                                           const std::vector<std::vector<uint32_t>>& truth);

struct LoadFigure {
  uint64_t calls = 0;
  double qps = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// `concurrency` threads cycle through `requests` for `seconds`.
absl::StatusOr<LoadFigure> MeasureLoad(v1::Search::Stub* stub,
                                       const std::vector<v1::SearchRequest>& requests,
                                       int concurrency, double seconds);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_QUERY_LOAD_H_

// The scale benchmark's calls on one search node: creating a collection
// with every metric and both index kinds, uploading rows through the
// client-streaming Upsert, Snapshot, and waiting until the HNSW graphs
// serve (see WaitReady for how that is observed).
// Thread-safety: functions are thread-safe when their stub is (gRPC stubs
// are).
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_NODE_CALLS_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_NODE_CALLS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::bench {

// The metrics of the benchmark's collection, in table order.
inline constexpr v1::Metric kMetrics[] = {v1::METRIC_L1, v1::METRIC_L2, v1::METRIC_COSINE};
// "L1", "L2", "cosine".
std::string MetricLabel(v1::Metric metric);

// CreateCollection `name` of `dim` with the default metrics (all three),
// both index kinds and the default HNSW parameters (M 16, ef_construction
// 200, as search.proto states); returns what the node answered.
absl::StatusOr<v1::CollectionInfo> CreateCollection(v1::Search::Stub* stub, const std::string& name,
                                                    uint32_t dim);

// How an upload is cut into calls.
struct UploadShape {
  uint32_t items_per_message = 1000;
  uint32_t messages_per_stream = 10;
};

// Upserts rows [0, count) of `rows` (count x dim) as items "v<first_id + i>",
// one Upsert stream per shape.messages_per_stream messages, one stream
// after the other. Returns the seconds taken.
absl::StatusOr<double> Upload(v1::Search::Stub* stub, const std::string& name, const float* rows,
                              uint64_t first_id, uint64_t count, uint32_t dim,
                              const UploadShape& shape);

absl::StatusOr<v1::CollectionInfo> GetCollection(v1::Search::Stub* stub, const std::string& name);
absl::StatusOr<v1::SnapshotResponse> Snapshot(v1::Search::Stub* stub, const std::string& name);

// A Search request for one vector (dim floats).
v1::SearchRequest MakeRequest(const std::string& name, v1::Metric metric, v1::IndexKind kind,
                              uint32_t k, uint32_t ef, const float* vector, uint32_t dim);

// The HNSW index entry of `metric` in `info` (nullptr when absent).
const v1::IndexStats* HnswStats(const v1::CollectionInfo& info, v1::Metric metric);

// What WaitReady saw, seconds from its `since`.
struct Readiness {
  // The collection held the expected items, every metric's graph covered
  // at least 90 % of them (a graph further behind gets rebuilt: 10 % is the
  // node's rebuild threshold) and its HNSW query was answered by the graph
  // (not exact_fallback).
  double serving_seconds = -1;
  // Serving, and no HNSW index BUILDING on two polls in a row (the node's
  // background work after the start or the ingest is done).
  double settled_seconds = -1;
  // GetCollection at the settled poll.
  v1::CollectionInfo info;
};

// Polls GetCollection every `every` until `items` items are live and every
// HNSW index serves and has settled (above), or `timeout` passes
// (DEADLINE_EXCEEDED with the last state). HNSW probes (`probe`, dim
// floats) are sent only while some graph is not yet known to serve and
// every graph covers 90 % of the items, so that polling does not load the
// node with exact scans while it builds. Works whether a restart loads saved graphs
// or rebuilds them: both end with graphs that answer.
absl::StatusOr<Readiness> WaitReady(v1::Search::Stub* stub, const std::string& name, uint64_t items,
                                    const std::vector<float>& probe,
                                    std::chrono::steady_clock::time_point since,
                                    absl::Duration timeout, absl::Duration every);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_NODE_CALLS_H_

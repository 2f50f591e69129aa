// The life of one collection size on one search node, as the scale
// benchmark runs it (docs/benchmarks.md, "Search node scale curve"):
//   ingest    start a node on a fresh data dir, CreateCollection (all three
//             metrics, both index kinds, default HNSW parameters) and
//             Upsert n vectors over gRPC;
//   build     wait until every metric's graph serves and the node's
//             background builds have settled (node_calls.h WaitReady);
//   restart   SIGTERM, start again, wait the same way;
//   query     recall@k against the benchmark's own exact answers and QPS /
//             latency over gRPC, exact and HNSW at each ef;
//   insert    upsert n/10 new items into the settled collection and wait
//             until it has settled again (the cost of growing a built
//             collection); the phases after it see n + n/10 items;
//   snapshot  Snapshot RPC: time, snapshot bytes, data dir bytes;
//   kill9     upsert a tail after the snapshot, SIGKILL, start, wait;
//   hnswlib, faiss  the reference builds of library_builds.h, run after
//             the node has stopped.
// Thread-safety: RunSize runs on one thread (it starts its own workers).
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_SIZE_RUN_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_SIZE_RUN_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/bench/scale/library_builds.h"
#include "tests/bench/scale/node_calls.h"
#include "tests/bench/scale/query_load.h"
#include "tests/bench/scale/scale_data.h"

namespace latentsearch::bench {

struct ScaleOptions {
  // The latentsearch-search binary to measure.
  std::string search_binary;
  // Optional phases to run (ingest and build always run).
  std::set<std::string> phases;
  // The rows (scale_data.h: kind, clusters, seed, latent_dim, noise); dim
  // is data.dim.
  DataShape data;
  uint32_t dim = 128;
  UploadShape upload;
  // The node's --threads, and the threads of the ground truth and the
  // reference builds.
  int threads = 2;
  uint32_t k = 10;
  std::vector<uint32_t> efs = {64, 128};
  std::vector<int> concurrency = {1, 8};
  uint32_t recall_queries = 200;
  // Queries of the exact rows' recall (a full scan each).
  uint32_t exact_queries = 50;
  double qps_seconds = 3;
  // Items upserted after the snapshot, before the SIGKILL.
  uint64_t kill9_tail = 10000;
  absl::Duration ready_timeout = absl::Hours(2);
  // The node's HNSW parameters (the service defaults), for the references.
  uint32_t m = 16;
  uint32_t ef_construction = 200;
};

// One HNSW graph as GetCollection reported it.
struct GraphFigure {
  uint64_t items = 0;
  double build_seconds = 0;  // IndexStats.last_build_seconds
  std::string state;
};

struct RestartFigure {
  bool ran = false;
  double exit_seconds = 0;       // signal -> process gone
  double listening_seconds = 0;  // fork -> address logged (items loaded)
  double serving_seconds = 0;    // fork -> every metric's graph answers
  double settled_seconds = 0;    // fork -> no build running
  GraphFigure graphs[3];         // per kMetrics entry
  uint64_t rss_bytes = 0;
};

// The insert phase: Δ new items upserted into a collection of n whose
// graphs had settled.
struct InsertFigure {
  bool ran = false;
  uint64_t before = 0;         // n, the items when the phase started
  uint64_t added = 0;          // Δ = n / 10, ids after every earlier item
  double ingest_seconds = 0;   // wall time of the Upsert streams of Δ
  double settled_seconds = 0;  // end of that ingest -> settled (WaitReady)
  GraphFigure graphs[3];       // per kMetrics entry, once settled
  // (ingest + settle) s × 1e6 / Δ.
  double MicrosPerInsert() const {
    return added == 0 ? 0 : (ingest_seconds + settled_seconds) * 1e6 / added;
  }
};

struct QueryFigure {
  v1::Metric metric = v1::METRIC_L2;
  bool hnsw = false;
  uint32_t ef = 0;
  RecallFigure recall;
  std::vector<LoadFigure> loads;  // per ScaleOptions::concurrency
};

struct LibraryFigure {
  v1::Metric metric = v1::METRIC_L2;
  LibraryBuild hnswlib, faiss;
};

struct SizeResult {
  uint64_t n = 0;
  double ingest_seconds = 0;
  // From the end of the ingest until the graphs serve / builds settled.
  double serving_seconds = 0;
  double settled_seconds = 0;
  GraphFigure graphs[3];  // per kMetrics entry, once settled
  uint64_t rss_empty = 0, rss_ingested = 0, rss_built = 0, rss_peak = 0;
  uint64_t hnsw_memory_bytes = 0;  // sum of the HNSW IndexStats.memory_bytes
  RestartFigure sigterm, kill9;
  InsertFigure insert;
  bool snapshot_ran = false;
  double snapshot_seconds = 0;
  uint64_t snapshot_bytes = 0, collection_disk_bytes = 0, data_dir_bytes = 0;
  double truth_seconds = 0;
  std::vector<QueryFigure> queries;
  std::vector<LibraryFigure> libraries;
};

absl::StatusOr<SizeResult> RunSize(const ScaleOptions& options, uint64_t n);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_SIZE_RUN_H_

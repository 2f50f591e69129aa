// The cluster benchmark's settings (filled from flags in cluster_bench.cc,
// read by every section) and the interrupt flag its waits poll.
// Thread-safety: Options is a plain value, read-only once the sections run;
// Interrupted() may be called from any thread.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_BENCH_OPTIONS_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_BENCH_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace latentsearch::bench {

struct Options {
  // Vector length of every collection.
  uint32_t dim = 128;
  // Gaussian clusters of the generated vectors (centres N(0, 3^2) per
  // coordinate, points N(centre, 1)); queries come from the same mixture.
  uint32_t clusters = 10;
  // Seed of vectors and queries.
  uint64_t seed = 1;
  // Neighbours per query and HNSW ef.
  uint32_t k = 10;
  uint32_t ef = 128;
  // Measured seconds per load row (after a 200 ms warm-up).
  double duration_seconds = 5;
  // --refresh_interval of every cluster process.
  absl::Duration refresh_interval = absl::Seconds(1);
  // Longest wait for a collection to serve with complete HNSW graphs, or
  // for a replica to catch up.
  absl::Duration ready_timeout = absl::Hours(4);

  // Router overhead: items of the 1-shard collection, concurrencies,
  // index kinds ("hnsw", "exact"), --threads of its node.
  uint64_t overhead_n = 100000;
  std::vector<int> overhead_concurrency = {1, 8, 32};
  std::vector<std::string> overhead_index = {"hnsw", "exact"};
  int overhead_threads = 2;

  // Scale-out: items, the shard counts compared against one standalone
  // process with one_node_threads threads, client concurrency of the QPS
  // rows, queries of the recall column.
  uint64_t n = 1000000;
  std::vector<int> shard_counts = {2, 4};
  int one_node_threads = 2;
  int qps_concurrency = 8;
  uint32_t recall_queries = 500;

  // Catch-up: items of the 1-shard x 2-replica collection.
  uint64_t catchup_n = 250000;
};

// Set from SIGINT/SIGTERM; long waits poll it and return CANCELLED.
bool Interrupted();
void InstallInterruptHandler();

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_BENCH_OPTIONS_H_

// Section 2 of the cluster benchmark: one process against shards.
//
// The same Options::n vectors are held by (a) one standalone
// latentsearch-search with --threads=Options::one_node_threads (what a user
// runs without the cluster) and (b) for each of Options::shard_counts, a
// cluster of that many nodes with --threads=1 and one router, the
// collection split into that many shards (replication factor 1, one shard
// per node). Every configuration is prepared first (upload, snapshot,
// restart, wait until each graph covers every item), then all are measured
// back to back in one run: exact and HNSW (ef = Options::ef) QPS at
// Options::qps_concurrency, and recall@k of HNSW against exact on the same
// Options::recall_queries queries through the same configuration, plus how
// many exact answers equal the one process's. Goal (issue #10): 2 shards
// >= 0.9 x the one process's QPS. On this 2-core machine 4 single-threaded
// shards (plus router and client) oversubscribe the cores; the report says
// so.
// Thread-safety: one thread runs a section.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_SCALEOUT_SECTION_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_SCALEOUT_SECTION_H_

#include <string>

#include "absl/status/statusor.h"
#include "tests/bench/cluster/bench_options.h"

namespace latentsearch::bench {

// Starts and stops its processes; returns the section's markdown.
absl::StatusOr<std::string> RunScaleOutSection(const Options& options);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_SCALEOUT_SECTION_H_

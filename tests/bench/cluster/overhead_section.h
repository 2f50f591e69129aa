// Section 1 of the cluster benchmark: what a router adds to a search.
//
// One node (--threads=Options::overhead_threads) and one router on loopback
// hold one collection of Options::overhead_n vectors as 1 shard x 1
// replica. At each concurrency the same queries go, back to back in one
// run, (a) straight to the node as SearchNode.SearchShard — exactly the
// request the router forwards, answered by the same process from the same
// items and graph, so the difference is the router alone — and (b) through
// the router as Search. Next to them, the no-op RPC (health Check) on the
// node: the cost of one loopback hop at that concurrency. Goal (issue #10):
// router p50 - direct p50 <= no-op p50. For comparison, (c) Search on a
// standalone server with the same --threads holding the same items (what a
// user had before the cluster; its serving path is not the node's, so it
// is shown, not used for the goal).
// Thread-safety: one thread runs a section.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_OVERHEAD_SECTION_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_OVERHEAD_SECTION_H_

#include <string>

#include "absl/status/statusor.h"
#include "tests/bench/cluster/bench_options.h"

namespace latentsearch::bench {

// Starts and stops its processes; returns the section's markdown.
absl::StatusOr<std::string> RunOverheadSection(const Options& options);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_OVERHEAD_SECTION_H_

// Section 3 of the cluster benchmark: how long a wiped replica takes to
// catch up.
//
// Two nodes (--threads=1) and one router hold Options::catchup_n vectors as
// 1 shard x 2 replicas. Once both serve every item and neither builds a
// graph (a quiet machine), node 1 is SIGKILLed, its data dir removed and it
// is started again empty on the same address. Measured from that restart:
// until it listens, until Cluster.Status (through the router, polled every
// 50 ms) shows its replica SERVING with every item — by design at least two
// refresh intervals, then a copy from its peer (docs/cluster.md,
// "Catch-up") — and until its own L2 graph covers every item (it serves
// HNSW queries exactly, flagged exact_fallback, until then).
// Thread-safety: one thread runs a section.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_CATCHUP_SECTION_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_CATCHUP_SECTION_H_

#include <string>

#include "absl/status/statusor.h"
#include "tests/bench/cluster/bench_options.h"

namespace latentsearch::bench {

// Starts and stops its processes; returns the section's markdown.
absl::StatusOr<std::string> RunCatchUpSection(const Options& options);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_CATCHUP_SECTION_H_

// The scale benchmark's Markdown tables (docs/benchmarks.md, "Search node
// scale curve"): ingest and memory, HNSW builds next to hnswlib and FAISS,
// insertion into a built collection (only when that phase ran), restart and
// snapshot, queries. Phases that did not run show "–".
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_TESTS_BENCH_SCALE_SCALE_REPORT_H_
#define LATENTSEARCH_TESTS_BENCH_SCALE_SCALE_REPORT_H_

#include <string>
#include <vector>

#include "tests/bench/scale/size_run.h"

namespace latentsearch::bench {

std::string RenderTables(const ScaleOptions& options, const std::vector<SizeResult>& results);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_SCALE_SCALE_REPORT_H_

// The search cluster benchmark (issue #10, docs/benchmarks.md "Search
// cluster"): starts its own etcd, nodes, routers and standalone servers on
// loopback (tests/integration/cluster/local_cluster.h), measures
//   overhead  search p50 through a router against straight to the node,
//   scaleout  one process with 2 threads against 2 and 4 single-threaded
//             shards: exact and HNSW QPS, recall@10,
//   catchup   the time a wiped replica takes to serve again,
// each as ratios within this one run, and prints a markdown report (also
// written to --out) framed by the machine's description and `uptime`
// before and after. Progress goes to stderr. Ctrl-C stops every process it
// started. Data lives under $TEST_TMPDIR (default /tmp), removed at exit.
//
//   build/bench/cluster_bench --out=cluster-bench.md    # the full run (35-60 min)
//   build/bench/cluster_bench --n=20000 --overhead_n=20000 --catchup_n=20000
//       --duration_seconds=1 --recall_queries=100       # a smoke run (one line)
//
// Thread-safety: main thread only (sections run one after another).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/logging.h"
#include "tests/bench/cluster/bench_options.h"
#include "tests/bench/cluster/catchup_section.h"
#include "tests/bench/cluster/machine_info.h"
#include "tests/bench/cluster/overhead_section.h"
#include "tests/bench/cluster/scaleout_section.h"

ABSL_FLAG(std::string, sections, "overhead,scaleout,catchup", "Sections to run, in this order");
ABSL_FLAG(uint64_t, n, 1000000, "scaleout: items");
ABSL_FLAG(uint64_t, overhead_n, 100000, "overhead: items");
ABSL_FLAG(uint64_t, catchup_n, 250000, "catchup: items");
ABSL_FLAG(uint32_t, dim, 128, "Vector length");
ABSL_FLAG(uint32_t, clusters, 10, "Gaussian clusters of vectors and queries");
ABSL_FLAG(uint64_t, seed, 1, "Seed of vectors and queries");
ABSL_FLAG(uint32_t, k, 10, "Neighbours per query");
ABSL_FLAG(uint32_t, ef, 128, "HNSW ef of every HNSW query");
ABSL_FLAG(double, duration_seconds, 5, "Measured seconds per load row");
ABSL_FLAG(std::string, concurrency, "1,8,32", "overhead: client concurrencies");
ABSL_FLAG(std::string, overhead_index, "hnsw,exact", "overhead: index kinds (hnsw, exact)");
ABSL_FLAG(int, overhead_threads, 2, "overhead: --threads of the node");
ABSL_FLAG(std::string, shards, "2,4", "scaleout: shard counts (one single-threaded node each)");
ABSL_FLAG(int, one_node_threads, 2, "scaleout: --threads of the one standalone process");
ABSL_FLAG(int, qps_concurrency, 8, "scaleout: client concurrency of the QPS rows");
ABSL_FLAG(uint32_t, recall_queries, 500, "scaleout: queries of the recall column");
ABSL_FLAG(absl::Duration, refresh_interval, absl::Seconds(1),
          "--refresh_interval of cluster processes (the service default is 1s)");
ABSL_FLAG(absl::Duration, ready_timeout, absl::Hours(4),
          "Longest wait for graphs to be built or a replica to catch up");
ABSL_FLAG(std::string, out, "", "Also write the markdown report to this file");

namespace latentsearch::bench {
namespace {

absl::StatusOr<std::vector<int>> Ints(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1 || v > 1024) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", part, "' is not a number in 1..1024"));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<Options> OptionsFromFlags() {
  Options o;
  o.dim = absl::GetFlag(FLAGS_dim);
  o.clusters = absl::GetFlag(FLAGS_clusters);
  o.seed = absl::GetFlag(FLAGS_seed);
  o.k = absl::GetFlag(FLAGS_k);
  o.ef = absl::GetFlag(FLAGS_ef);
  o.duration_seconds = absl::GetFlag(FLAGS_duration_seconds);
  o.refresh_interval = absl::GetFlag(FLAGS_refresh_interval);
  o.ready_timeout = absl::GetFlag(FLAGS_ready_timeout);
  o.overhead_n = absl::GetFlag(FLAGS_overhead_n);
  absl::StatusOr<std::vector<int>> c = Ints("concurrency", absl::GetFlag(FLAGS_concurrency));
  if (!c.ok()) return c.status();
  o.overhead_concurrency = *c;
  o.overhead_index = absl::StrSplit(absl::GetFlag(FLAGS_overhead_index), ',', absl::SkipEmpty());
  for (const std::string& i : o.overhead_index) {
    if (i != "hnsw" && i != "exact") {
      return absl::InvalidArgumentError("--overhead_index: '" + i + "': use hnsw and/or exact");
    }
  }
  o.overhead_threads = absl::GetFlag(FLAGS_overhead_threads);
  o.n = absl::GetFlag(FLAGS_n);
  absl::StatusOr<std::vector<int>> s = Ints("shards", absl::GetFlag(FLAGS_shards));
  if (!s.ok()) return s.status();
  o.shard_counts = *s;
  o.one_node_threads = absl::GetFlag(FLAGS_one_node_threads);
  o.qps_concurrency = absl::GetFlag(FLAGS_qps_concurrency);
  o.recall_queries = absl::GetFlag(FLAGS_recall_queries);
  o.catchup_n = absl::GetFlag(FLAGS_catchup_n);
  if (o.dim == 0 || o.k == 0 || o.n == 0 || o.overhead_n == 0 || o.catchup_n == 0 ||
      o.recall_queries == 0 || o.qps_concurrency < 1 || o.duration_seconds <= 0) {
    return absl::InvalidArgumentError(
        "--dim, --k, --n, --overhead_n, --catchup_n, --recall_queries, --qps_concurrency and "
        "--duration_seconds must be positive");
  }
  return o;
}

// Prints `report` to stdout's end and rewrites --out with all of it.
void Emit(const std::string& text, std::string* report) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
  *report += text;
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) std::ofstream(out, std::ios::trunc) << *report;
}

absl::StatusOr<std::string> RunSection(const std::string& name, const Options& o) {
  if (name == "overhead") return RunOverheadSection(o);
  if (name == "scaleout") return RunScaleOutSection(o);
  if (name == "catchup") return RunCatchUpSection(o);
  return absl::InvalidArgumentError("--sections: '" + name +
                                    "' is not a section; use overhead, scaleout, catchup");
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("The search cluster benchmark (docs/benchmarks.md)");
  absl::ParseCommandLine(argc, argv);
  base::InitLogging(argv[0], base::LogLevel::kInfo);
  absl::StatusOr<Options> options = OptionsFromFlags();
  if (!options.ok()) {
    LOG(ERROR) << options.status();
    return 2;
  }
  InstallInterruptHandler();
  std::string report;
  Emit(absl::StrCat("# Search cluster benchmark\n\n", MachineDescription(), "- command: `",
                    absl::StrJoin(argv, argv + argc, " "), "`\n", "- before: ", UptimeLine(),
                    "\n\n"),
       &report);
  int rc = 0;
  for (absl::string_view section : absl::StrSplit(absl::GetFlag(FLAGS_sections), ',')) {
    LOG(INFO) << "section " << section;
    absl::StatusOr<std::string> text = RunSection(std::string(section), *options);
    if (!text.ok()) {
      LOG(ERROR) << "section " << section << ": " << text.status();
      Emit(absl::StrCat("## ", section, ": FAILED\n\n`", text.status().ToString(), "`\n\n"),
           &report);
      rc = 1;
      if (Interrupted()) break;
      continue;
    }
    Emit(absl::StrCat(*text, "- after this section: ", UptimeLine(), "\n\n"), &report);
  }
  Emit(absl::StrCat("- after: ", UptimeLine(), "\n"), &report);
  return rc;
}

}  // namespace
}  // namespace latentsearch::bench

int main(int argc, char** argv) { return latentsearch::bench::Main(argc, argv); }

// The search node scale curve (issue #13, docs/benchmarks.md "Search node
// scale curve"): for each size, the whole life of one collection of
// clustered 128-d vectors on one latentsearch-search process that the
// benchmark starts itself on loopback with its own data dir (size_run.h:
// ingest, build, restart, query, insert, snapshot, kill9, plus hnswlib and FAISS
// builds of the same rows). Prints a Markdown report framed by the CPU
// model, its avx512*/amx* flags and `uptime` before and after (also written
// to --out, rewritten after each size). Progress goes to stderr. Data under
// $TEST_TMPDIR (default /tmp), removed after each size.
//
//   build/bench/scale_bench                                  # 100k, 300k, 1M
//   build/bench/scale_bench --sizes=100000,300000 --out=scale.md
//   build/bench/scale_bench --sizes=2000 --qps_seconds=0.2   # the smoke run
//
// Exit status 1 when a phase failed or the node's exact index disagreed
// with the benchmark's own exact answers (recall below 0.999), 2 for bad
// flags.
// Thread-safety: main thread only (sizes run one after another).
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/base/logging.h"
#include "common/testing/subprocess.h"
#include "tests/bench/cluster/bench_data.h"
#include "tests/bench/cluster/machine_info.h"
#include "tests/bench/scale/scale_report.h"
#include "tests/bench/scale/search_node.h"
#include "tests/bench/scale/size_run.h"

ABSL_FLAG(std::string, sizes, "100000,300000,1000000",
          "Collection sizes (multiples of 1,000), one node life each");
ABSL_FLAG(std::string, phases, "restart,query,insert,snapshot,kill9,hnswlib,faiss",
          "Phases after ingest and build (which always run): restart, query, insert (n/10 new "
          "items into the settled collection; snapshot and kill9 then see n + n/10), snapshot, "
          "kill9, hnswlib, faiss");
ABSL_FLAG(std::string, search_binary, "",
          "The latentsearch-search to measure; empty = <build>/bin/latentsearch-search");
ABSL_FLAG(uint32_t, dim, 128, "Vector length");
ABSL_FLAG(uint32_t, clusters, 10, "Gaussian clusters of the vectors and queries");
ABSL_FLAG(std::string, data, "gaussian",
          "gaussian (isotropic clusters in every dimension) or lowrank (the clusters in "
          "--latent_dim dimensions, mapped to --dim by a random matrix, plus --noise): "
          "tests/bench/scale/scale_data.h");
ABSL_FLAG(uint32_t, latent_dim, 16, "lowrank: dimension of the subspace");
ABSL_FLAG(double, noise, 0.1, "lowrank: standard deviation of the noise per coordinate");
ABSL_FLAG(uint64_t, seed, 1, "Seed of vectors and queries");
ABSL_FLAG(uint32_t, batch, 1000, "Items per Upsert message");
ABSL_FLAG(uint32_t, messages_per_stream, 10, "Upsert messages per client stream");
ABSL_FLAG(int, threads, 2,
          "The node's --threads, and the threads of the exact answers and the hnswlib / FAISS "
          "builds; 0 = hardware threads");
ABSL_FLAG(uint32_t, k, 10, "Neighbours per query");
ABSL_FLAG(std::string, efs, "64,128",
          "HNSW ef of the query rows (the last also for hnswlib/FAISS)");
ABSL_FLAG(std::string, concurrency, "1,8", "Client concurrencies of the QPS columns");
ABSL_FLAG(uint32_t, recall_queries, 200, "Queries of the HNSW recall and QPS rows");
ABSL_FLAG(uint32_t, exact_queries, 50, "Queries of the exact rows (a full scan each)");
ABSL_FLAG(double, qps_seconds, 3, "Measured seconds per QPS cell");
ABSL_FLAG(uint64_t, kill9_tail, 10000,
          "Items upserted after the snapshot and before the SIGKILL (a multiple of 1,000)");
ABSL_FLAG(absl::Duration, ready_timeout, absl::Hours(2), "Longest wait for graphs to serve");
ABSL_FLAG(std::string, out, "", "Also write the Markdown report to this file");

namespace latentsearch::bench {
namespace {

template <typename T>
absl::StatusOr<std::vector<T>> Numbers(const std::string& flag, const std::string& text) {
  std::vector<T> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    T v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", part, "' is not a positive number"));
    }
    out.push_back(v);
  }
  if (out.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is empty"));
  return out;
}

absl::StatusOr<ScaleOptions> OptionsFromFlags() {
  ScaleOptions o;
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_phases), ',', absl::SkipEmpty())) {
    if (p == "ingest" || p == "build") continue;
    if (p != "restart" && p != "query" && p != "insert" && p != "snapshot" && p != "kill9" &&
        p != "hnswlib" && p != "faiss") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--phases: '", p,
          "'; use ingest, build, restart, query, insert, snapshot, kill9, hnswlib, faiss"));
    }
    o.phases.insert(std::string(p));
  }
  o.search_binary = absl::GetFlag(FLAGS_search_binary);
  if (o.search_binary.empty()) o.search_binary = testing::BinaryPath("latentsearch-search");
  o.dim = absl::GetFlag(FLAGS_dim);
  o.data.dim = o.dim;
  o.data.kind = absl::GetFlag(FLAGS_data);
  o.data.clusters = absl::GetFlag(FLAGS_clusters);
  o.data.seed = absl::GetFlag(FLAGS_seed);
  o.data.latent_dim = absl::GetFlag(FLAGS_latent_dim);
  o.data.noise = static_cast<float>(absl::GetFlag(FLAGS_noise));
  if (o.data.kind != "gaussian" && o.data.kind != "lowrank") {
    return absl::InvalidArgumentError("--data: '" + o.data.kind + "'; use gaussian or lowrank");
  }
  if (o.data.kind == "lowrank" && o.data.latent_dim == 0) {
    return absl::InvalidArgumentError("--latent_dim must be positive");
  }
  o.upload.items_per_message = absl::GetFlag(FLAGS_batch);
  o.upload.messages_per_stream = absl::GetFlag(FLAGS_messages_per_stream);
  o.threads = absl::GetFlag(FLAGS_threads);
  if (o.threads <= 0)
    o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.k = absl::GetFlag(FLAGS_k);
  absl::StatusOr<std::vector<uint32_t>> efs = Numbers<uint32_t>("efs", absl::GetFlag(FLAGS_efs));
  if (!efs.ok()) return efs.status();
  o.efs = *efs;
  absl::StatusOr<std::vector<int>> c =
      Numbers<int>("concurrency", absl::GetFlag(FLAGS_concurrency));
  if (!c.ok()) return c.status();
  o.concurrency = *c;
  o.recall_queries = absl::GetFlag(FLAGS_recall_queries);
  o.exact_queries = absl::GetFlag(FLAGS_exact_queries);
  o.qps_seconds = absl::GetFlag(FLAGS_qps_seconds);
  o.kill9_tail = absl::GetFlag(FLAGS_kill9_tail);
  o.ready_timeout = absl::GetFlag(FLAGS_ready_timeout);
  if (o.dim == 0 || o.k == 0 || o.recall_queries == 0 || o.exact_queries == 0 ||
      o.upload.items_per_message == 0 || o.upload.messages_per_stream == 0 || o.qps_seconds <= 0 ||
      o.kill9_tail % Dataset::kBatch != 0) {
    return absl::InvalidArgumentError(
        "--dim, --k, --recall_queries, --exact_queries, --batch, --messages_per_stream and "
        "--qps_seconds must be positive, --kill9_tail a multiple of 1,000");
  }
  return o;
}

// The node's exact index must agree with the benchmark's own answers.
absl::Status CheckExactRows(const SizeResult& r) {
  for (const QueryFigure& q : r.queries) {
    if (!q.hnsw && q.recall.recall < 0.999) {
      return absl::InternalError(absl::StrCat("n=", r.n, ": the node's exact ",
                                              MetricLabel(q.metric), " answers have recall ",
                                              q.recall.recall, " against the benchmark's"));
    }
  }
  return absl::OkStatus();
}

std::string DataLabel(const DataShape& d) {
  if (d.kind == "lowrank") {
    return absl::StrCat("lowrank: ", d.clusters, " Gaussian clusters in ", d.latent_dim,
                        " dimensions mapped to ", d.dim, " + noise ", d.noise, ", seed ", d.seed);
  }
  return absl::StrCat("gaussian: ", d.clusters, " isotropic Gaussian clusters, seed ", d.seed);
}

void Emit(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

void WriteOut(const std::string& report) {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) std::ofstream(out, std::ios::trunc) << report;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("The search node scale curve (docs/benchmarks.md)");
  absl::ParseCommandLine(argc, argv);
  base::InitLogging(argv[0], base::LogLevel::kInfo);
  absl::StatusOr<ScaleOptions> options = OptionsFromFlags();
  absl::StatusOr<std::vector<uint64_t>> sizes =
      Numbers<uint64_t>("sizes", absl::GetFlag(FLAGS_sizes));
  if (!options.ok() || !sizes.ok()) {
    LOG(ERROR) << (options.ok() ? sizes.status() : options.status());
    return 2;
  }
  for (uint64_t n : *sizes) {
    if (n % Dataset::kBatch != 0) {
      LOG(ERROR) << "--sizes: " << n << " is not a multiple of 1,000";
      return 2;
    }
  }
  KillNodeOnInterrupt();
  const std::string head = absl::StrCat(
      "## Search node scale curve\n\n", MachineDescription(), "- command: `",
      absl::StrJoin(argv, argv + argc, " "), "`\n", "- vectors: ", options->dim, "-d, ",
      DataLabel(options->data), "; Upsert ", options->upload.items_per_message,
      " items per message, ", options->upload.messages_per_stream,
      " messages per stream; node and references on ", options->threads, " threads\n",
      "- node binary: `", options->search_binary, "`\n", "- before: ", UptimeLine(), "\n");
  Emit(head);
  std::string report = head;
  std::vector<SizeResult> results;
  int rc = 0;
  for (uint64_t n : *sizes) {
    absl::StatusOr<SizeResult> r = RunSize(*options, n);
    std::string line = absl::StrCat("- after ", n, ": ", UptimeLine(), "\n");
    if (!r.ok()) {
      LOG(ERROR) << "n=" << n << ": " << r.status();
      absl::StrAppend(&line, "- ", n, ": FAILED `", r.status().ToString(), "`\n");
      rc = 1;
    } else {
      if (absl::Status s = CheckExactRows(*r); !s.ok()) {
        LOG(ERROR) << s;
        absl::StrAppend(&line, "- CHECK FAILED: `", s.ToString(), "`\n");
        rc = 1;
      }
      results.push_back(std::move(*r));
    }
    Emit(line);
    report += line;
    WriteOut(absl::StrCat(report, "\n", RenderTables(*options, results)));
  }
  const std::string tables = RenderTables(*options, results);
  Emit(absl::StrCat("\n", tables));
  WriteOut(absl::StrCat(report, "\n", tables));
  return rc;
}

}  // namespace
}  // namespace latentsearch::bench

int main(int argc, char** argv) { return latentsearch::bench::Main(argc, argv); }

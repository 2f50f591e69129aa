// Restart, memory and recall of one Collection (common/index/collection.h)
// at scale, in process (no gRPC): N clustered vectors upserted in batches,
// the HNSW graphs awaited, resident growth per vector, recall@10 against
// the exact index, then a clean close and a reopen timed until HNSW serves
// every metric again, and the graph counters that say whether the graphs
// were loaded or rebuilt. With --crash_tail, a copy of the directory taken
// while the collection still runs (what kill -9 leaves: every write is
// fsynced or published atomically) after `crash_tail` more upserts is
// opened too.
//
//   build/bench/collection_restart_bench --n=200000 --dim=128 --threads=2
//
// Prints the CPU flags and `uptime` first. Single-threaded driver.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/index/collection.h"

ABSL_FLAG(uint64_t, n, 200000, "vectors upserted");
ABSL_FLAG(uint32_t, dim, 128, "vector dimension");
ABSL_FLAG(uint32_t, clusters, 1000, "Gaussian mixture components");
ABSL_FLAG(int32_t, threads, 2, "collection threads (builds, scans)");
ABSL_FLAG(uint32_t, queries, 200, "recall queries (held out)");
ABSL_FLAG(uint64_t, crash_tail, 0, "upserts after the last build before the kill -9 copy");
ABSL_FLAG(std::string, dir, "/tmp/collection_restart_bench", "scratch directory (wiped)");

namespace latentsearch::index {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Resident bytes of this process (/proc/self/statm).
uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return uint64_t{resident} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

void Shell(const char* command) {
  std::fflush(stdout);
  if (std::system(command) != 0) std::printf("(%s failed)\n", command);
}

// Seeded Gaussian mixture: `clusters` centres ~ N(0, 1), points = centre +
// N(0, 0.35²) per coordinate. n × dim.
std::vector<float> Clustered(size_t n, size_t dim, size_t clusters, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> centres(clusters * dim);
  for (float& c : centres) c = g(rng);
  std::vector<float> out(n * dim);
  std::uniform_int_distribution<size_t> pick(0, clusters - 1);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.data() + pick(rng) * dim;
    for (size_t d = 0; d < dim; ++d) out[i * dim + d] = c[d] + 0.35f * g(rng);
  }
  return out;
}

void Upsert(Collection& c, const std::vector<float>& v, size_t first, size_t count, size_t dim) {
  constexpr size_t kBatch = 1000;
  for (size_t b = first; b < first + count; b += kBatch) {
    ItemBatch batch;
    const size_t e = std::min(first + count, b + kBatch);
    for (size_t i = b; i < e; ++i) batch.metas.push_back({absl::StrCat("id", i), int(i % 10), ""});
    batch.vectors.assign(v.begin() + b * dim, v.begin() + e * dim);
    if (!c.Upsert(batch).ok()) std::printf("upsert failed\n");
  }
}

void Recall(const Collection& c, const std::vector<float>& queries, size_t nq, size_t dim) {
  for (Metric m : c.config().metrics) {
    for (size_t ef : {64, 128}) {
      SearchParams exact;
      exact.metric = m;
      exact.k = 10;
      SearchParams h = exact;
      h.hnsw = true;
      h.ef = ef;
      size_t hit = 0, fallback = 0;
      const auto start = Clock::now();
      std::vector<SearchResult> approx(nq);
      for (size_t q = 0; q < nq; ++q) approx[q] = c.Search(queries.data() + q * dim, h);
      const double secs = Since(start);
      for (size_t q = 0; q < nq; ++q) {
        SearchResult e = c.Search(queries.data() + q * dim, exact);
        fallback += approx[q].exact_fallback;
        for (const Hit& a : approx[q].hits) {
          for (const Hit& b : e.hits) hit += a.id == b.id;
        }
      }
      std::printf("  %-6s ef %3zu: recall@10 %.4f, %.0f QPS (1 thread), fallbacks %zu\n",
                  std::string(MetricName(m)).c_str(), ef, double(hit) / double(nq * 10),
                  double(nq) / secs, fallback);
    }
  }
}

void PrintGraphs(const Collection& c) {
  CollectionStats s = c.Stats();
  for (const IndexStatsEntry& e : s.indexes) {
    if (!e.hnsw) continue;
    std::printf("  graph %-6s: %llu items, %.1f MB, %.2f s build/load\n",
                std::string(MetricName(e.metric)).c_str(), (unsigned long long)e.items,
                double(e.memory_bytes) / 1e6, e.last_build_seconds);
  }
  std::printf("  graph counters: %llu built, %llu loaded, %llu tail inserts at load\n",
              (unsigned long long)s.graphs_built, (unsigned long long)s.graphs_loaded,
              (unsigned long long)s.graph_tail_inserts);
}

// Opens `dir`, times Open and the wait until HNSW serves every metric.
void Reopen(const CollectionOptions& base, const std::string& dir, const char* what,
            const std::vector<float>& queries, size_t nq, size_t dim) {
  CollectionOptions o = base;
  o.dir = dir;
  const auto start = Clock::now();
  auto c = Collection::Open(o);
  if (!c.ok()) {
    std::printf("%s: open failed: %s\n", what, c.status().ToString().c_str());
    return;
  }
  const double open_s = Since(start);
  // HNSW serves every metric at once when no search falls back to exact.
  bool serving = true;
  for (Metric m : (*c)->config().metrics) {
    SearchParams p;
    p.metric = m;
    p.hnsw = true;
    serving = serving && !(*c)->Search(queries.data(), p).exact_fallback;
  }
  (*c)->WaitForIndexes();
  std::printf("%s: Open %.2f s, HNSW %s; builds and saves settled after %.2f s\n", what, open_s,
              serving ? "serving every metric at the open" : "falling back to exact at the open",
              Since(start));
  PrintGraphs(**c);
  Recall(**c, queries, nq, dim);
}

int Run() {
  const size_t n = absl::GetFlag(FLAGS_n), dim = absl::GetFlag(FLAGS_dim);
  const size_t nq = absl::GetFlag(FLAGS_queries), tail = absl::GetFlag(FLAGS_crash_tail);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  Shell(
      "grep -o -w 'avx512[a-z_0-9]*\\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\\n' ' '; "
      "echo; nproc; uptime; git -C \"$(dirname \"$0\")\" describe --always --dirty 2>/dev/null "
      "|| true");
  std::filesystem::remove_all(dir);
  const std::vector<float> data = Clustered(n + tail + nq, dim, absl::GetFlag(FLAGS_clusters), 7);
  const std::vector<float> queries(data.begin() + (n + tail) * dim, data.end());
  CollectionOptions o;
  o.dir = dir + "/c";
  o.num_threads = absl::GetFlag(FLAGS_threads);
  CollectionConfig config;
  config.name = "bench";
  config.dim = static_cast<uint32_t>(dim);
  const uint64_t rss0 = ResidentBytes();
  auto c = Collection::Create(config, o);
  if (!c.ok()) return std::printf("create: %s\n", c.status().ToString().c_str()), 1;
  auto start = Clock::now();
  Upsert(**c, data, 0, n, dim);
  const double ingest = Since(start);
  (*c)->WaitForIndexes();
  const double settled = Since(start);
  const uint64_t rss = ResidentBytes();
  std::printf("n %zu dim %zu: ingest %.1f s (%.0f/s), graphs settled %.1f s after the start\n", n,
              dim, ingest, double(n) / ingest, settled);
  std::printf("resident growth %.1f MB = %.0f bytes/vector (raw %zu)\n", double(rss - rss0) / 1e6,
              double(rss - rss0) / double(n), dim * 4);
  PrintGraphs(**c);
  Recall(**c, queries, nq, dim);
  if (tail > 0) {
    Upsert(**c, data, n, tail, dim);
    Shell(absl::StrCat("rm -rf ", dir, "/crash && cp -r ", dir, "/c ", dir, "/crash").c_str());
  }
  start = Clock::now();
  c->reset();
  std::printf("clean close %.2f s\n", Since(start));
  Reopen(o, dir + "/c", "restart after a clean close", queries, nq, dim);
  if (tail > 0) Reopen(o, dir + "/crash", "restart of the kill -9 copy", queries, nq, dim);
  Shell("uptime");
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace latentsearch::index

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return latentsearch::index::Run();
}

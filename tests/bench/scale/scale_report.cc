// Markdown tables of the scale benchmark (scale_report.h).
// Thread-safety: pure.
#include "tests/bench/scale/scale_report.h"

#include "absl/strings/str_cat.h"
#include "tests/bench/cluster/markdown.h"

namespace latentsearch::bench {
namespace {

constexpr char kNone[] = "–";

std::string MiB(uint64_t bytes) { return Num(static_cast<double>(bytes) / (1 << 20), 0); }
std::string Sec(double s) { return s < 0 ? kNone : Num(s, s < 10 ? 2 : 1); }

std::string IngestTable(const ScaleOptions& o, const std::vector<SizeResult>& results) {
  Table t({"vectors", "ingest s", "vectors/s", "graphs serve (s after ingest)",
           "builds settled (s after ingest)", "RSS empty MiB", "RSS ingested MiB", "RSS built MiB",
           "peak RSS MiB", "resident bytes/vector", "GiB per 1M vectors",
           "HNSW memory_bytes/vector"});
  for (const SizeResult& r : results) {
    const double per = (static_cast<double>(r.rss_built) - r.rss_empty) / r.n;
    t.AddRow({Num(r.n, 0), Sec(r.ingest_seconds), Num(r.n / r.ingest_seconds, 0),
              Sec(r.serving_seconds), Sec(r.settled_seconds), MiB(r.rss_empty), MiB(r.rss_ingested),
              MiB(r.rss_built), MiB(r.rss_peak), Num(per, 0), Num(per * 1e6 / (1 << 30), 2),
              Num(static_cast<double>(r.hnsw_memory_bytes) / r.n, 0)});
  }
  return t.ToString();
}

std::string BuildTable(const std::vector<SizeResult>& results) {
  Table t({"vectors", "metric", "after ingest: graph items", "its build s",
           "after SIGTERM restart: graph items", "its build (or load) s", "hnswlib build s",
           "FAISS build s", "hnswlib recall@10", "FAISS recall@10"});
  for (const SizeResult& r : results) {
    for (size_t i = 0; i < 3; ++i) {
      const LibraryFigure* lib = i < r.libraries.size() ? &r.libraries[i] : nullptr;
      auto build = [](const LibraryBuild& b) {
        return b.build_seconds >= 0 ? Sec(b.build_seconds)
                                    : (b.missing.empty() ? kNone : b.missing);
      };
      auto recall = [](const LibraryBuild& b) {
        return b.recall >= 0 ? Num(b.recall, 3) : std::string(kNone);
      };
      const GraphFigure& after = r.sigterm.graphs[i];
      t.AddRow({Num(r.n, 0), MetricLabel(kMetrics[i]), Num(r.graphs[i].items, 0),
                Sec(r.graphs[i].build_seconds), r.sigterm.ran ? Num(after.items, 0) : kNone,
                r.sigterm.ran ? Sec(after.build_seconds) : kNone, lib ? build(lib->hnswlib) : kNone,
                lib ? build(lib->faiss) : kNone, lib ? recall(lib->hnswlib) : kNone,
                lib ? recall(lib->faiss) : kNone});
    }
  }
  return t.ToString();
}

std::string Graphs(const RestartFigure& f) {
  std::string out;
  for (size_t i = 0; i < 3; ++i) {
    absl::StrAppend(&out, i ? ", " : "", MetricLabel(kMetrics[i]), " ", Num(f.graphs[i].items, 0));
  }
  return out;
}

std::string RestartTable(const ScaleOptions& o, const std::vector<SizeResult>& results) {
  Table t({"vectors", "SIGTERM: exit s", "listening s", "HNSW serves s", "settled s",
           "graph items after", "snapshot s", "snapshot MiB", "data dir MiB",
           absl::StrCat("kill -9 (+", Num(o.kill9_tail, 0), " after the snapshot): listening s"),
           "HNSW serves s", "settled s", "graph items after"});
  for (const SizeResult& r : results) {
    const RestartFigure& s = r.sigterm;
    const RestartFigure& k = r.kill9;
    t.AddRow({Num(r.n, 0), s.ran ? Sec(s.exit_seconds) : kNone,
              s.ran ? Sec(s.listening_seconds) : kNone, s.ran ? Sec(s.serving_seconds) : kNone,
              s.ran ? Sec(s.settled_seconds) : kNone, s.ran ? Graphs(s) : kNone,
              r.snapshot_ran ? Sec(r.snapshot_seconds) : kNone,
              r.snapshot_ran ? MiB(r.snapshot_bytes) : kNone,
              r.snapshot_ran ? MiB(r.data_dir_bytes) : kNone,
              k.ran ? Sec(k.listening_seconds) : kNone, k.ran ? Sec(k.serving_seconds) : kNone,
              k.ran ? Sec(k.settled_seconds) : kNone, k.ran ? Graphs(k) : kNone});
  }
  return t.ToString();
}

std::string QueryTable(const ScaleOptions& o, const std::vector<SizeResult>& results) {
  std::vector<std::string> header = {"vectors", "metric", "index", "recall@10", "exact fallbacks"};
  for (int c : o.concurrency) {
    header.push_back(absl::StrCat("QPS c", c));
    header.push_back(absl::StrCat("p50 µs c", c));
    header.push_back(absl::StrCat("p99 µs c", c));
  }
  Table t(header);
  for (const SizeResult& r : results) {
    for (const QueryFigure& q : r.queries) {
      std::vector<std::string> row = {Num(r.n, 0), MetricLabel(q.metric),
                                      q.hnsw ? absl::StrCat("HNSW ef ", q.ef) : "exact",
                                      Num(q.recall.recall, 3), Num(q.recall.exact_fallbacks, 0)};
      for (const LoadFigure& l : q.loads) {
        row.push_back(Num(l.qps, 0));
        row.push_back(Num(l.p50_us, 0));
        row.push_back(Num(l.p99_us, 0));
      }
      t.AddRow(row);
    }
  }
  return t.ToString();
}

}  // namespace

std::string RenderTables(const ScaleOptions& o, const std::vector<SizeResult>& results) {
  return absl::StrCat("### Ingest and memory\n\n", IngestTable(o, results), "\n### HNSW builds\n\n",
                      BuildTable(results), "\n### Restart and snapshot\n\n",
                      RestartTable(o, results), "\n### Queries (gRPC Search, k = ", o.k, ")\n\n",
                      QueryTable(o, results), "\n");
}

}  // namespace latentsearch::bench

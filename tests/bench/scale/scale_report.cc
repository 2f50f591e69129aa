// Markdown tables of the scale benchmark (scale_report.h).
// Thread-safety: pure.
#include "tests/bench/scale/scale_report.h"

#include <algorithm>

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

std::string Graphs(const GraphFigure (&graphs)[3]) {
  std::string out;
  for (size_t i = 0; i < 3; ++i) {
    absl::StrAppend(&out, i ? ", " : "", MetricLabel(kMetrics[i]), " ", Num(graphs[i].items, 0));
  }
  return out;
}

std::string Graphs(const RestartFigure& f) { return Graphs(f.graphs); }

// One row per size that ran the insert phase; the ratio is to the µs per
// insert of the smallest such size.
std::string InsertTable(const std::vector<SizeResult>& results) {
  const SizeResult* smallest = nullptr;
  for (const SizeResult& r : results) {
    if (r.insert.ran && (smallest == nullptr || r.n < smallest->n)) smallest = &r;
  }
  Table t({"vectors before", "Δ inserted", "ingest s", "settled s (after that ingest)",
           "µs per insert",
           absl::StrCat("× µs per insert at ", smallest ? Num(smallest->n, 0) : kNone),
           "graph items after"});
  for (const SizeResult& r : results) {
    const InsertFigure& f = r.insert;
    if (!f.ran) continue;
    const double base = smallest->insert.MicrosPerInsert();
    std::string items = Graphs(f.graphs);
    for (const GraphFigure& g : f.graphs) {
      if (g.items != f.before + f.added) {
        absl::StrAppend(&items, " (expected ", Num(f.before + f.added, 0), ")");
        break;
      }
    }
    t.AddRow({Num(f.before, 0), Num(f.added, 0), Sec(f.ingest_seconds), Sec(f.settled_seconds),
              Num(f.MicrosPerInsert(), 1),
              base > 0 ? Num(f.MicrosPerInsert() / base, 2) : std::string(kNone), items});
  }
  return t.ToString();
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
  const bool inserted =
      std::any_of(results.begin(), results.end(), [](const SizeResult& r) { return r.insert.ran; });
  std::string insert;
  if (inserted) {
    insert = absl::StrCat(
        "\n### Insertion into a built collection\n\n",
        "Δ = n / 10 new items upserted once the graphs of n had settled; µs per insert = "
        "(ingest s + settled s) × 1e6 / Δ.\n\n",
        InsertTable(results));
  }
  const std::string restart_note =
      inserted ? "The snapshot and the kill -9 ran on n + Δ items (after the insert phase).\n\n"
               : "";
  return absl::StrCat("### Ingest and memory\n\n", IngestTable(o, results), "\n### HNSW builds\n\n",
                      BuildTable(results), insert, "\n### Restart and snapshot\n\n", restart_note,
                      RestartTable(o, results), "\n### Queries (gRPC Search, k = ", o.k, ")\n\n",
                      QueryTable(o, results), "\n");
}

}  // namespace latentsearch::bench

// The life of one collection size on one node (size_run.h).
// Thread-safety: one thread.
#include "tests/bench/scale/size_run.h"

#include <chrono>
#include <csignal>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/testing/test_env.h"
#include "tests/bench/cluster/bench_data.h"
#include "tests/bench/scale/ground_truth.h"
#include "tests/bench/scale/search_node.h"

namespace latentsearch::bench {
namespace {

constexpr char kName[] = "scale";
constexpr absl::Duration kPollEvery = absl::Milliseconds(100);
using Clock = std::chrono::steady_clock;

// Items the insert phase adds to a collection of n (Δ).
uint64_t InsertCount(const ScaleOptions& o, uint64_t n) {
  return o.phases.count("insert") ? n / 10 : 0;
}

// The rows the node receives and the benchmark's own copies of them.
struct Data {
  std::vector<float> base;                      // n x dim, items v0..v<n-1>
  std::vector<float> added;                     // Δ x dim, items v<n>..v<n+Δ-1>
  std::vector<float> tail;                      // kill9_tail x dim, the ids after those
  std::vector<float> queries;                   // recall_queries x dim
  std::vector<float> base_unit, queries_unit;   // Normalized(), for cosine
  std::vector<std::vector<uint32_t>> truth[3];  // per kMetrics entry
};

// The added rows are the generator's batches right after the first n (each
// batch is drawn from a stream of its own: the same mixture, no row of the
// base again), rounded up to whole batches; the kill9 tail follows them.
Data MakeData(const ScaleOptions& o, uint64_t n) {
  const uint64_t added = InsertCount(o, n);
  const uint64_t added_batches = (added + Dataset::kBatch - 1) / Dataset::kBatch;
  Rows rows = MakeRows(o.data, n, added_batches * Dataset::kBatch + o.kill9_tail, o.recall_queries);
  Data d;
  d.base = std::move(rows.base);
  const auto tail_at = rows.tail.begin() + added_batches * Dataset::kBatch * o.dim;
  d.added.assign(rows.tail.begin(), rows.tail.begin() + added * o.dim);
  d.tail.assign(tail_at, rows.tail.end());
  d.queries = std::move(rows.queries);
  return d;
}

void FillGraphs(const v1::CollectionInfo& info, GraphFigure* graphs) {
  for (size_t i = 0; i < 3; ++i) {
    const v1::IndexStats* s = HnswStats(info, kMetrics[i]);
    if (s == nullptr) continue;
    graphs[i].items = s->items();
    graphs[i].build_seconds = s->last_build_seconds();
    graphs[i].state = v1::IndexState_Name(s->state());
  }
}

size_t MetricSlot(v1::Metric m) { return m == v1::METRIC_L1 ? 0 : m == v1::METRIC_L2 ? 1 : 2; }

// Exact answers for every metric, on the benchmark's threads (the node is
// idle meanwhile).
void ComputeTruth(const ScaleOptions& o, uint64_t n, Data* d, SizeResult* r) {
  const Clock::time_point start = Clock::now();
  d->base_unit = Normalized(d->base, o.dim);
  d->queries_unit = Normalized(d->queries, o.dim);
  for (v1::Metric m : kMetrics) {
    const bool unit = m == v1::METRIC_COSINE;
    d->truth[MetricSlot(m)] = ExactNeighbors(m, (unit ? d->base_unit : d->base).data(), n, o.dim,
                                             (unit ? d->queries_unit : d->queries).data(),
                                             o.recall_queries, o.k, o.threads);
  }
  r->truth_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  LOG(INFO) << "n=" << n << ": exact answers for " << o.recall_queries << " queries in "
            << r->truth_seconds << " s";
}

// Stops the node with `signal`, starts it again and waits for its graphs.
absl::Status Restart(const ScaleOptions& o, SearchNode* node, int signal, uint64_t items,
                     const std::vector<float>& probe, RestartFigure* f) {
  f->ran = true;
  f->exit_seconds = node->Stop(signal);
  LS_RETURN_IF_ERROR(node->Launch());
  f->listening_seconds = node->listening_seconds();
  LS_ASSIGN_OR_RETURN(Readiness ready, WaitReady(node->stub(), kName, items, probe,
                                                 node->launched_at(), o.ready_timeout, kPollEvery));
  f->serving_seconds = ready.serving_seconds;
  f->settled_seconds = ready.settled_seconds;
  FillGraphs(ready.info, f->graphs);
  f->rss_bytes = node->RssBytes();
  LOG(INFO) << "restart after signal " << signal << ": exit " << f->exit_seconds << " s, listening "
            << f->listening_seconds << " s, serving " << f->serving_seconds << " s, settled "
            << f->settled_seconds << " s";
  return absl::OkStatus();
}

// Recall over `requests` and load at each concurrency.
absl::StatusOr<QueryFigure> QueryRow(const ScaleOptions& o, SearchNode* node, v1::Metric m,
                                     bool hnsw, uint32_t ef,
                                     const std::vector<v1::SearchRequest>& requests,
                                     const std::vector<std::vector<uint32_t>>& truth) {
  QueryFigure f;
  f.metric = m;
  f.hnsw = hnsw;
  f.ef = ef;
  LS_ASSIGN_OR_RETURN(f.recall, MeasureRecall(node->stub(), requests, truth));
  for (int c : o.concurrency) {
    LS_ASSIGN_OR_RETURN(LoadFigure load, MeasureLoad(node->stub(), requests, c, o.qps_seconds));
    f.loads.push_back(load);
  }
  LOG(INFO) << MetricLabel(m) << (hnsw ? absl::StrCat(" HNSW ef ", ef) : " exact") << ": recall "
            << f.recall.recall << ", QPS at concurrency " << o.concurrency[0] << " "
            << f.loads[0].qps;
  return f;
}

absl::Status RunQueries(const ScaleOptions& o, SearchNode* node, const Data& d, SizeResult* r) {
  for (v1::Metric m : kMetrics) {
    const std::vector<std::vector<uint32_t>>& truth = d.truth[MetricSlot(m)];
    std::vector<v1::SearchRequest> exact;
    for (uint32_t q = 0; q < std::min(o.exact_queries, o.recall_queries); ++q) {
      exact.push_back(MakeRequest(kName, m, v1::INDEX_KIND_EXACT, o.k, 0,
                                  d.queries.data() + size_t{q} * o.dim, o.dim));
    }
    const std::vector<std::vector<uint32_t>> exact_truth(truth.begin(),
                                                         truth.begin() + exact.size());
    LS_ASSIGN_OR_RETURN(QueryFigure ef, QueryRow(o, node, m, false, 0, exact, exact_truth));
    r->queries.push_back(ef);
    for (uint32_t ef_search : o.efs) {
      std::vector<v1::SearchRequest> hnsw;
      for (uint32_t q = 0; q < o.recall_queries; ++q) {
        hnsw.push_back(MakeRequest(kName, m, v1::INDEX_KIND_HNSW, o.k, ef_search,
                                   d.queries.data() + size_t{q} * o.dim, o.dim));
      }
      LS_ASSIGN_OR_RETURN(QueryFigure hf, QueryRow(o, node, m, true, ef_search, hnsw, truth));
      r->queries.push_back(hf);
    }
  }
  return absl::OkStatus();
}

uint64_t TreeBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

absl::Status RunSnapshot(SearchNode* node, const std::string& data_dir, SizeResult* r) {
  const Clock::time_point start = Clock::now();
  LS_ASSIGN_OR_RETURN(v1::SnapshotResponse resp, Snapshot(node->stub(), kName));
  r->snapshot_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r->snapshot_ran = true;
  for (const v1::SnapshotInfo& s : resp.snapshots()) r->snapshot_bytes += s.bytes();
  LS_ASSIGN_OR_RETURN(v1::CollectionInfo info, GetCollection(node->stub(), kName));
  r->collection_disk_bytes = info.disk_bytes();
  r->data_dir_bytes = TreeBytes(data_dir);
  LOG(INFO) << "snapshot: " << r->snapshot_seconds << " s, " << r->snapshot_bytes
            << " bytes; data dir " << r->data_dir_bytes << " bytes";
  return absl::OkStatus();
}

void RunLibraries(const ScaleOptions& o, uint64_t n, const Data& d, SizeResult* r) {
  for (v1::Metric m : kMetrics) {
    const bool unit = m == v1::METRIC_COSINE;
    LibraryBuildArgs a;
    a.metric = m;
    a.base = (unit ? d.base_unit : d.base).data();
    a.n = n;
    a.dim = o.dim;
    a.m = o.m;
    a.ef_construction = o.ef_construction;
    a.threads = o.threads;
    a.queries = (unit ? d.queries_unit : d.queries).data();
    a.nq = o.recall_queries;
    a.k = o.k;
    a.ef_search = o.efs.empty() ? 128 : o.efs.back();
    a.truth = &d.truth[MetricSlot(m)];
    LibraryFigure f;
    f.metric = m;
    if (o.phases.count("hnswlib")) f.hnswlib = BuildWithHnswlib(a);
    if (o.phases.count("faiss")) f.faiss = BuildWithFaiss(a);
    LOG(INFO) << MetricLabel(m) << ": hnswlib " << f.hnswlib.build_seconds << " s "
              << f.hnswlib.missing << "; FAISS " << f.faiss.build_seconds << " s "
              << f.faiss.missing;
    r->libraries.push_back(f);
  }
}

// Upserts the Δ added rows into the settled collection of n and waits, as
// after the first ingest, until the graphs have settled again.
absl::Status RunInsert(const ScaleOptions& o, uint64_t n, const Data& d, SearchNode* node,
                       InsertFigure* f) {
  f->ran = true;
  f->before = n;
  f->added = d.added.size() / o.dim;
  LS_ASSIGN_OR_RETURN(f->ingest_seconds,
                      Upload(node->stub(), kName, d.added.data(), n, f->added, o.dim, o.upload));
  const Clock::time_point ingest_end = Clock::now();
  const std::vector<float> probe(d.queries.begin(), d.queries.begin() + o.dim);
  LS_ASSIGN_OR_RETURN(Readiness ready, WaitReady(node->stub(), kName, n + f->added, probe,
                                                 ingest_end, o.ready_timeout, kPollEvery));
  f->settled_seconds = ready.settled_seconds;
  FillGraphs(ready.info, f->graphs);
  LOG(INFO) << "n=" << n << ": inserted " << f->added << " in " << f->ingest_seconds
            << " s, settled " << f->settled_seconds << " s after, " << f->MicrosPerInsert()
            << " µs per insert";
  for (size_t i = 0; i < 3; ++i) {
    if (f->graphs[i].items != n + f->added) {
      LOG(WARNING) << "n=" << n << ": after inserting " << f->added << ", the "
                   << MetricLabel(kMetrics[i]) << " graph holds " << f->graphs[i].items
                   << " items, not " << n + f->added;
    }
  }
  return absl::OkStatus();
}

// Ingest and build: a fresh node, the collection, n items, settled graphs.
absl::Status IngestAndBuild(const ScaleOptions& o, uint64_t n, const Data& d, SearchNode* node,
                            SizeResult* r) {
  LS_RETURN_IF_ERROR(node->Launch());
  LS_RETURN_IF_ERROR(CreateCollection(node->stub(), kName, o.dim).status());
  r->rss_empty = node->RssBytes();
  LS_ASSIGN_OR_RETURN(r->ingest_seconds,
                      Upload(node->stub(), kName, d.base.data(), 0, n, o.dim, o.upload));
  const Clock::time_point ingest_end = Clock::now();
  r->rss_ingested = node->RssBytes();
  LOG(INFO) << "n=" << n << ": ingest " << r->ingest_seconds << " s";
  const std::vector<float> probe(d.queries.begin(), d.queries.begin() + o.dim);
  LS_ASSIGN_OR_RETURN(Readiness ready, WaitReady(node->stub(), kName, n, probe, ingest_end,
                                                 o.ready_timeout, kPollEvery));
  r->serving_seconds = ready.serving_seconds;
  r->settled_seconds = ready.settled_seconds;
  FillGraphs(ready.info, r->graphs);
  for (const v1::IndexStats& s : ready.info.indexes()) {
    if (s.kind() == v1::INDEX_KIND_HNSW) r->hnsw_memory_bytes += s.memory_bytes();
  }
  r->rss_built = node->RssBytes();
  LOG(INFO) << "n=" << n << ": graphs settled " << r->settled_seconds << " s after the ingest";
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SizeResult> RunSize(const ScaleOptions& o, uint64_t n) {
  SizeResult r;
  r.n = n;
  Data d = MakeData(o, n);
  testing::TempDir dir;
  LOG(INFO) << "n=" << n << ": node data under " << dir.path();
  SearchNode node(o.search_binary, dir.Join("data"), dir.path(), o.threads);
  LS_RETURN_IF_ERROR(IngestAndBuild(o, n, d, &node, &r));
  ComputeTruth(o, n, &d, &r);
  const std::vector<float> probe(d.queries.begin(), d.queries.begin() + o.dim);
  if (o.phases.count("restart")) {
    r.rss_peak = node.PeakRssBytes();
    LS_RETURN_IF_ERROR(Restart(o, &node, SIGTERM, n, probe, &r.sigterm));
  }
  if (o.phases.count("query")) LS_RETURN_IF_ERROR(RunQueries(o, &node, d, &r));
  uint64_t live = n;  // the items the collection holds
  if (o.phases.count("insert")) {
    LS_RETURN_IF_ERROR(RunInsert(o, n, d, &node, &r.insert));
    live += r.insert.added;
  }
  if (o.phases.count("snapshot")) LS_RETURN_IF_ERROR(RunSnapshot(&node, dir.Join("data"), &r));
  if (o.phases.count("kill9")) {
    LS_RETURN_IF_ERROR(
        Upload(node.stub(), kName, d.tail.data(), live, o.kill9_tail, o.dim, o.upload).status());
    LS_RETURN_IF_ERROR(Restart(o, &node, SIGKILL, live + o.kill9_tail, probe, &r.kill9));
  }
  if (r.rss_peak == 0) r.rss_peak = node.PeakRssBytes();
  node.Stop(SIGTERM);
  if (o.phases.count("hnswlib") || o.phases.count("faiss")) RunLibraries(o, n, d, &r);
  return r;
}

}  // namespace latentsearch::bench

#include "clients/cli/eval.h"

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/json.h"
#include "clients/cli/pipeline_flags.h"
#include "clients/cli/progress.h"
#include "clients/cli/service_calls.h"
#include "common/base/status_macros.h"
#include "common/data/dataset.h"
#include "common/index/exact.h"
#include "common/index/metric.h"
#include "latentsearch/v1/search.grpc.pb.h"

ABSL_FLAG(int, queries, 500, "eval: number of seeded queries.");
ABSL_FLAG(uint64_t, eval_seed, 1, "eval: seed drawing the queries.");
ABSL_FLAG(int, map_depth, 100, "eval: depth of mAP (mAP@100).");
ABSL_FLAG(std::string, query_collection, "",
          "eval: draw queries from this collection (e.g. the test split) and search "
          "--collection (e.g. the train split) by their vectors; \"\" = queries are items of "
          "--collection, the query item left out.");
ABSL_FLAG(bool, baseline, true, "eval: add the raw-pixel baseline (exact search in process).");
ABSL_FLAG(double, wait_for_index, 600,
          "eval: seconds to wait for HNSW indexes to finish building first.");

namespace latentsearch::cli {
namespace {

struct QueryItem {
  std::string id;  // for item queries ("" for vector queries)
  int32_t label;
  std::string uri;
  std::vector<float> vector;  // for vector queries
};

index::Metric ToIndexMetric(v1::Metric m) {
  switch (m) {
    case v1::METRIC_L1:
      return index::Metric::kL1;
    case v1::METRIC_COSINE:
      return index::Metric::kCosine;
    default:
      return index::Metric::kL2;
  }
}

// Accumulates one row over the queries.
struct RowAccumulator {
  double precision = 0, precision_incl = 0, ap = 0;
  int n = 0;
  void Add(const std::vector<int32_t>& excl, const std::vector<int32_t>& incl, int32_t label, int k,
           int depth, uint64_t relevant) {
    precision += PrecisionAtK(excl, label, k);
    precision_incl += PrecisionAtK(incl, label, k);
    ap += AveragePrecision(excl, label, depth, relevant);
    ++n;
  }
  void Fill(EvalRow* row) const {
    row->precision_at_k = n ? precision / n : 0;
    row->precision_at_k_including_self = n ? precision_incl / n : 0;
    row->map = n ? ap / n : 0;
  }
};

double Recall(const std::vector<std::vector<std::string>>& a,
              const std::vector<std::vector<std::string>>& exact, int k) {
  double sum = 0;
  for (size_t q = 0; q < a.size(); ++q) {
    int hit = 0;
    for (const std::string& id : a[q]) {
      if (std::find(exact[q].begin(), exact[q].end(), id) != exact[q].end()) ++hit;
    }
    sum += static_cast<double>(hit) / k;
  }
  return a.empty() ? 0 : sum / a.size();
}

}  // namespace

double PrecisionAtK(absl::Span<const int32_t> ranked_labels, int32_t label, int k) {
  if (k <= 0) return 0;
  int hits = 0;
  for (int i = 0; i < k && i < static_cast<int>(ranked_labels.size()); ++i) {
    if (ranked_labels[i] == label) ++hits;
  }
  return static_cast<double>(hits) / k;
}

double AveragePrecision(absl::Span<const int32_t> ranked_labels, int32_t label, int depth,
                        uint64_t relevant) {
  if (relevant == 0 || depth <= 0) return 0;
  double sum = 0;
  int hits = 0;
  for (int i = 0; i < depth && i < static_cast<int>(ranked_labels.size()); ++i) {
    if (ranked_labels[i] == label) {
      ++hits;
      sum += static_cast<double>(hits) / (i + 1);
    }
  }
  return sum / static_cast<double>(std::min<uint64_t>(relevant, depth));
}

std::string MetricLabel(v1::Metric metric) {
  switch (metric) {
    case v1::METRIC_L1:
      return "l1";
    case v1::METRIC_L2:
      return "l2";
    case v1::METRIC_COSINE:
      return "cosine";
    default:
      return "l2";
  }
}

std::string IndexKindLabel(v1::IndexKind kind) {
  return kind == v1::INDEX_KIND_HNSW ? "hnsw" : "exact";
}

const EvalRow* EvalResult::Find(const std::string& source, v1::Metric metric,
                                v1::IndexKind kind) const {
  for (const EvalRow& r : rows) {
    if (r.source == source && r.metric == metric && r.index_kind == kind) return &r;
  }
  return nullptr;
}

std::string EvalResult::ToTable() const {
  std::string s = absl::StrFormat(
      "retrieval quality: collection %s (model %s v%d, %d items, dim %d)\n"
      "%d seeded queries (seed %d) %s; labels = classes\n\n",
      collection, model.name().empty() ? "default" : model.name(), model.version(), items, dim,
      num_queries, seed,
      query_collection.empty() ? "drawn from the collection, the query item left out"
                               : absl::StrCat("drawn from ", query_collection));
  const std::string pk = absl::StrCat("P@", k);
  const std::string pki = absl::StrCat("P@", k, " incl. self");
  const std::string map = absl::StrCat("mAP@", map_depth);
  const std::string rec = absl::StrCat("recall@", k, " vs exact");
  absl::StrAppend(&s, absl::StrFormat("%-10s  %-6s  %-5s  %7s  %*s  %8s  %*s\n", "source", "metric",
                                      "index", pk, pki.size(), pki, map, rec.size(), rec));
  for (const EvalRow& r : rows) {
    const bool incl = query_collection.empty();
    absl::StrAppend(
        &s, absl::StrFormat(
                "%-10s  %-6s  %-5s  %7.3f  %*s  %8.3f  %*s%s\n", r.source, MetricLabel(r.metric),
                IndexKindLabel(r.index_kind), r.precision_at_k, pki.size(),
                incl ? absl::StrFormat("%.3f", r.precision_at_k_including_self) : "-", r.map,
                rec.size(), r.recall_vs_exact ? absl::StrFormat("%.4f", *r.recall_vs_exact) : "",
                r.exact_fallbacks > 0 ? absl::StrCat("  (", r.exact_fallbacks, " exact fallbacks)")
                                      : ""));
  }
  if (!baseline_note.empty()) absl::StrAppend(&s, "raw pixels: ", baseline_note, "\n");
  return s;
}

std::string EvalResult::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("collection").String(collection);
  w.Key("query_collection").String(query_collection);
  w.Key("model").BeginObject();
  w.Key("name").String(model.name());
  w.Key("version").Int(model.version());
  w.EndObject();
  w.Key("items").Int(items);
  w.Key("dim").Int(dim);
  w.Key("queries").Int(num_queries);
  w.Key("seed").Int(seed);
  w.Key("k").Int(k);
  w.Key("map_depth").Int(map_depth);
  w.Key("seconds").Double(seconds);
  if (!baseline_note.empty()) w.Key("baseline_note").String(baseline_note);
  w.Key("rows").BeginArray();
  for (const EvalRow& r : rows) {
    w.BeginObject();
    w.Key("source").String(r.source);
    w.Key("metric").String(MetricLabel(r.metric));
    w.Key("index").String(IndexKindLabel(r.index_kind));
    w.Key("precision_at_k").Double(r.precision_at_k);
    w.Key("precision_at_k_including_self").Double(r.precision_at_k_including_self);
    w.Key("map").Double(r.map);
    if (r.recall_vs_exact) w.Key("recall_vs_exact").Double(*r.recall_vs_exact);
    if (r.index_kind == v1::INDEX_KIND_HNSW) w.Key("exact_fallbacks").Int(r.exact_fallbacks);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

absl::StatusOr<EvalResult> RunEval(const Endpoint& search, const EvalOptions& options,
                                   ImageResolver* resolver) {
  const absl::Time start = absl::Now();
  if (options.collection.empty()) return absl::InvalidArgumentError("eval needs a collection");
  if (options.k < 1 || options.k > 999 || options.map_depth < 1 || options.map_depth > 999 ||
      options.num_queries < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval options k ", options.k, ", map depth ", options.map_depth, ", queries ",
                     options.num_queries, ": expected k and depth 1..999, at least 1 query"));
  }
  auto note = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };
  LS_ASSIGN_OR_RETURN(v1::CollectionInfo info, GetCollection(search, options.collection));
  EvalResult result;
  result.collection = options.collection;
  result.query_collection = options.query_collection;
  result.model = info.model();
  result.dim = info.dim();
  result.seed = options.seed;
  result.k = options.k;
  result.map_depth = options.map_depth;
  note("listing items");
  LS_ASSIGN_OR_RETURN(std::vector<v1::Item> items, ListAllItems(search, options.collection, false));
  result.items = items.size();
  std::map<int32_t, uint64_t> class_count;
  for (const v1::Item& item : items) {
    if (item.label() >= 0) ++class_count[item.label()];
  }
  if (class_count.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection '", options.collection,
                     "' has no labelled items; eval measures retrieval by class label"));
  }
  // The query pool.
  const bool item_queries = options.query_collection.empty();
  std::vector<QueryItem> pool;
  if (item_queries) {
    for (const v1::Item& item : items) {
      if (item.label() >= 0) pool.push_back({item.id(), item.label(), item.uri(), {}});
    }
  } else {
    LS_ASSIGN_OR_RETURN(v1::CollectionInfo qinfo, GetCollection(search, options.query_collection));
    if (qinfo.dim() != info.dim()) {
      return absl::FailedPreconditionError(
          absl::StrCat("query collection '", options.query_collection, "' has dim ", qinfo.dim(),
                       ", '", options.collection, "' has dim ", info.dim(), "; they must match"));
    }
    LS_ASSIGN_OR_RETURN(std::vector<v1::Item> qitems,
                        ListAllItems(search, options.query_collection, true));
    for (v1::Item& item : qitems) {
      if (item.label() < 0) continue;
      pool.push_back({"", item.label(), item.uri(),
                      std::vector<float>(item.vector().begin(), item.vector().end())});
    }
    if (pool.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("query collection '", options.query_collection, "' has no labelled items"));
    }
  }
  std::vector<QueryItem> queries;
  for (size_t i : data::SampleIndices(pool.size(), options.num_queries, options.seed)) {
    queries.push_back(std::move(pool[i]));
  }
  result.num_queries = static_cast<int>(queries.size());
  auto relevant = [&](const QueryItem& q) {
    auto it = class_count.find(q.label);
    const uint64_t n = it == class_count.end() ? 0 : it->second;
    return item_queries && n > 0 ? n - 1 : n;
  };

  std::vector<v1::Metric> metrics = options.metrics;
  if (metrics.empty()) metrics = {v1::METRIC_L1, v1::METRIC_L2, v1::METRIC_COSINE};
  std::vector<v1::IndexKind> kinds = options.index_kinds;
  if (kinds.empty()) kinds = {v1::INDEX_KIND_EXACT, v1::INDEX_KIND_HNSW};
  auto kept = [&](v1::Metric m, v1::IndexKind k) {
    for (const v1::IndexStats& s : info.indexes()) {
      if (s.metric() == m && s.kind() == k) return true;
    }
    return false;
  };
  if (std::find(kinds.begin(), kinds.end(), v1::INDEX_KIND_HNSW) != kinds.end() &&
      options.wait_for_index_seconds > 0) {
    note("waiting for HNSW indexes");
    LS_RETURN_IF_ERROR(
        WaitForIndexes(search, options.collection, options.wait_for_index_seconds, nullptr));
  }
  const int depth = std::max(options.k, options.map_depth);
  const uint32_t k_req = static_cast<uint32_t>(depth + (item_queries ? 1 : 0));
  const uint32_t ef = options.ef != 0 ? options.ef : std::max<uint32_t>(128, k_req);
  auto stub = v1::Search::NewStub(search.channel);

  for (v1::Metric metric : metrics) {
    std::vector<std::vector<std::string>> exact_top;
    for (v1::IndexKind kind : kinds) {
      if (!kept(metric, kind)) continue;
      note(absl::StrCat("searching: ", MetricLabel(metric), " ", IndexKindLabel(kind)));
      EvalRow row;
      row.source = "model";
      row.metric = metric;
      row.index_kind = kind;
      RowAccumulator acc;
      std::vector<std::vector<std::string>> top(queries.size());
      for (size_t first = 0; first < queries.size(); first += options.batch_size) {
        const size_t last = std::min(queries.size(), first + options.batch_size);
        v1::SearchBatchRequest req;
        req.set_collection(options.collection);
        for (size_t q = first; q < last; ++q) {
          v1::SearchRequest* r = req.add_queries();
          if (item_queries) {
            r->set_item_id(queries[q].id);
          } else {
            r->mutable_vector()->mutable_values()->Add(queries[q].vector.begin(),
                                                       queries[q].vector.end());
          }
          r->set_metric(metric);
          r->set_index_kind(kind);
          r->set_k(k_req);
          if (kind == v1::INDEX_KIND_HNSW) r->set_ef(ef);
        }
        grpc::ClientContext ctx;
        SetDeadline(search, &ctx);
        v1::SearchBatchResponse resp;
        LS_RETURN_IF_ERROR(RpcError(search, stub->SearchBatch(&ctx, req, &resp)));
        for (size_t q = first; q < last; ++q) {
          const v1::SearchResponse& sr = resp.results(static_cast<int>(q - first));
          if (sr.exact_fallback()) ++row.exact_fallbacks;
          std::vector<int32_t> excl, incl;
          for (const v1::Neighbor& n : sr.neighbors()) {
            if (static_cast<int>(incl.size()) < options.k) incl.push_back(n.label());
            if (item_queries && n.id() == queries[q].id) continue;
            if (static_cast<int>(excl.size()) < depth) excl.push_back(n.label());
            if (static_cast<int>(top[q].size()) < options.k) top[q].push_back(n.id());
          }
          acc.Add(excl, incl, queries[q].label, options.k, options.map_depth, relevant(queries[q]));
        }
      }
      acc.Fill(&row);
      if (kind == v1::INDEX_KIND_EXACT) {
        exact_top = top;
      } else if (!exact_top.empty()) {
        row.recall_vs_exact = Recall(top, exact_top, options.k);
      }
      result.rows.push_back(row);
    }
  }

  if (options.baseline) {
    note("raw-pixel baseline: reading pixels");
    // Pixels of every item (the base) and of the queries, through the uris.
    std::vector<float> base, qpix;
    size_t pdim = 0;
    absl::Status status;
    auto append = [&](const std::string& uri, std::vector<float>* out) -> absl::Status {
      LS_ASSIGN_OR_RETURN(image::Image img, resolver->Resolve(uri));
      if (pdim == 0) pdim = img.num_bytes();
      if (img.num_bytes() != pdim) {
        return absl::FailedPreconditionError(absl::StrCat("images differ in size (", uri, " has ",
                                                          img.num_bytes(), " bytes, expected ",
                                                          pdim, ")"));
      }
      for (uint8_t p : img.pixels) out->push_back(p / 255.f);
      return absl::OkStatus();
    };
    absl::flat_hash_map<std::string, uint32_t> slot_of;
    for (size_t i = 0; i < items.size() && status.ok(); ++i) {
      status = append(items[i].uri(), &base);
      slot_of[items[i].id()] = static_cast<uint32_t>(i);
    }
    for (size_t q = 0; q < queries.size() && status.ok(); ++q) {
      status = append(queries[q].uri, &qpix);
    }
    if (!status.ok()) {
      result.baseline_note = absl::StrCat("skipped: ", status.message());
    } else {
      for (v1::Metric metric : metrics) {
        note(absl::StrCat("raw-pixel baseline: ", MetricLabel(metric)));
        const index::Metric im = ToIndexMetric(metric);
        std::vector<float> b = base, qs = qpix;
        if (im == index::Metric::kCosine) {
          index::NormalizeRows(b.data(), items.size(), pdim);
          index::NormalizeRows(qs.data(), queries.size(), pdim);
        }
        index::ExactSearchOptions eo;
        eo.k = k_req;
        std::vector<std::vector<index::Neighbor>> res;
        LS_RETURN_IF_ERROR(index::ExactSearch(im, b.data(), items.size(), pdim, qs.data(),
                                              queries.size(), eo, &res));
        EvalRow row;
        row.source = "raw pixels";
        row.metric = metric;
        row.index_kind = v1::INDEX_KIND_EXACT;
        RowAccumulator acc;
        for (size_t q = 0; q < queries.size(); ++q) {
          const uint32_t self = item_queries ? slot_of[queries[q].id] : UINT32_MAX;
          std::vector<int32_t> excl, incl;
          for (const index::Neighbor& n : res[q]) {
            const int32_t label = items[n.slot].label();
            if (static_cast<int>(incl.size()) < options.k) incl.push_back(label);
            if (n.slot == self) continue;
            if (static_cast<int>(excl.size()) < depth) excl.push_back(label);
          }
          acc.Add(excl, incl, queries[q].label, options.k, options.map_depth, relevant(queries[q]));
        }
        acc.Fill(&row);
        result.rows.push_back(row);
      }
    }
  }
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return result;
}

namespace {

absl::Status RunEvalCommand(const CommandContext& ctx) {
  if (!ctx.positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value"));
  }
  EvalOptions options;
  options.query_collection = absl::GetFlag(FLAGS_query_collection);
  options.num_queries = absl::GetFlag(FLAGS_queries);
  options.seed = absl::GetFlag(FLAGS_eval_seed);
  options.k = static_cast<int>(absl::GetFlag(FLAGS_k));
  options.map_depth = absl::GetFlag(FLAGS_map_depth);
  options.ef = absl::GetFlag(FLAGS_ef);
  options.baseline = absl::GetFlag(FLAGS_baseline);
  options.wait_for_index_seconds = absl::GetFlag(FLAGS_wait_for_index);
  if (options.k < 1 || options.k > 999 || options.map_depth < 1 || options.map_depth > 999 ||
      options.num_queries < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--k=", options.k, " --map_depth=", options.map_depth, " --queries=", options.num_queries,
        ": expected k and map_depth in 1..999 and queries >= 1"));
  }
  LS_ASSIGN_OR_RETURN(options.metrics, MetricsFromFlag("all"));
  LS_ASSIGN_OR_RETURN(options.index_kinds, IndexKindsFromFlag("both"));
  LS_ASSIGN_OR_RETURN(Endpoint search, DialFromFlags(Service::kSearch));
  options.collection = absl::GetFlag(FLAGS_collection);
  if (options.collection.empty()) {
    LS_ASSIGN_OR_RETURN(v1::CollectionInfo c,
                        NewestCollectionOf(search, absl::GetFlag(FLAGS_model)));
    options.collection = c.name();
  }
  ProgressLine bar(ctx.err, IsTerminal(ctx.err));
  options.progress = [&bar](const std::string& line) { bar.Update("eval: " + line, true); };
  ImageResolver resolver;
  LS_ASSIGN_OR_RETURN(EvalResult r, RunEval(search, options, &resolver));
  bar.Finish();
  *ctx.out << (JsonFromFlags() ? r.ToJson() + "\n" : r.ToTable());
  return absl::OkStatus();
}

int Run(const CommandContext& ctx) { return ReportError(RunEvalCommand(ctx), *ctx.err); }

}  // namespace

Command EvalCommand() {
  Command c;
  c.name = "eval";
  c.summary =
      "Retrieval quality of a labelled collection: precision@k, mAP@100 per metric and "
      "index, HNSW recall vs exact, next to raw pixels.";
  c.usage =
      "[--collection=NAME] [--query_collection=NAME] [--queries=500] [--eval_seed=1] "
      "[--k=10] [--map_depth=100] [--metric=all] [--index=both] [--nobaseline] [--json]";
  c.flags = {"collection", "model", "query_collection", "queries",
             "eval_seed",  "k",     "map_depth",        "metric",
             "index",      "ef",    "baseline",         "wait_for_index"};
  for (std::string& f : ClientFlagNames({Service::kSearch})) c.flags.push_back(std::move(f));
  c.run = &Run;
  return c;
}

}  // namespace latentsearch::cli

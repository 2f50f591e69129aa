#include "clients/cli/eval.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/grpc_search_backend.h"
#include "clients/cli/json.h"
#include "clients/cli/model_ref.h"
#include "clients/cli/pipeline_flags.h"
#include "clients/cli/progress.h"
#include "clients/cli/service_calls.h"
#include "common/base/status_macros.h"

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

using eval::IndexKindLabel;
using eval::MetricLabel;

absl::StatusOr<eval::EvalResult> RunEval(const Endpoint& search, const eval::EvalOptions& options,
                                         items::ImageResolver* resolver) {
  GrpcSearchBackend backend(search);
  return eval::RunEval(backend, options, resolver);
}

std::string EvalTable(const eval::EvalResult& result) {
  const eval::EvalResult& t = result;
  std::string s = absl::StrFormat(
      "retrieval quality: collection %s (model %s v%d, %d items, dim %d)\n"
      "%d seeded queries (seed %d) %s; labels = classes\n\n",
      t.collection, t.model.name().empty() ? "default" : t.model.name(), t.model.version(), t.items,
      t.dim, t.num_queries, t.seed,
      t.query_collection.empty() ? "drawn from the collection, the query item left out"
                                 : absl::StrCat("drawn from ", t.query_collection));
  const std::string pk = absl::StrCat("P@", t.k);
  const std::string pki = absl::StrCat("P@", t.k, " incl. self");
  const std::string map = absl::StrCat("mAP@", t.map_depth);
  const std::string rec = absl::StrCat("recall@", t.k, " vs exact");
  absl::StrAppend(&s, absl::StrFormat("%-10s  %-6s  %-5s  %7s  %*s  %8s  %*s\n", "source", "metric",
                                      "index", pk, pki.size(), pki, map, rec.size(), rec));
  const bool incl = t.query_collection.empty();
  for (const eval::EvalRow& r : t.rows) {
    absl::StrAppend(
        &s, absl::StrFormat(
                "%-10s  %-6s  %-5s  %7.3f  %*s  %8.3f  %*s%s\n", r.source, MetricLabel(r.metric),
                IndexKindLabel(r.index_kind), r.precision_at_k, pki.size(),
                incl ? absl::StrFormat("%.3f", r.precision_at_k_including_self) : "-", r.map,
                rec.size(), r.recall_vs_exact ? absl::StrFormat("%.4f", *r.recall_vs_exact) : "",
                r.exact_fallbacks > 0 ? absl::StrCat("  (", r.exact_fallbacks, " exact fallbacks)")
                                      : ""));
  }
  if (!t.baseline_note.empty()) absl::StrAppend(&s, "raw pixels: ", t.baseline_note, "\n");
  return s;
}

std::string EvalJson(const eval::EvalResult& result) {
  const eval::EvalResult& t = result;
  JsonWriter w;
  w.BeginObject();
  w.Key("collection").String(t.collection);
  w.Key("query_collection").String(t.query_collection);
  w.Key("model");
  ModelJson(t.model, &w);
  w.Key("items").Int(t.items);
  w.Key("dim").Int(t.dim);
  w.Key("queries").Int(t.num_queries);
  w.Key("seed").Int(t.seed);
  w.Key("k").Int(t.k);
  w.Key("map_depth").Int(t.map_depth);
  w.Key("seconds").Double(t.seconds);
  if (!t.baseline_note.empty()) w.Key("baseline_note").String(t.baseline_note);
  w.Key("rows").BeginArray();
  for (const eval::EvalRow& r : t.rows) {
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

namespace {

absl::Status RunEvalCommand(const CommandContext& ctx) {
  if (!ctx.positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value"));
  }
  eval::EvalOptions options;
  options.query_collection = absl::GetFlag(FLAGS_query_collection);
  options.num_queries = absl::GetFlag(FLAGS_queries);
  options.seed = absl::GetFlag(FLAGS_eval_seed);
  options.k = static_cast<int>(absl::GetFlag(FLAGS_k));
  options.map_depth = absl::GetFlag(FLAGS_map_depth);
  options.ef = absl::GetFlag(FLAGS_ef);
  options.baseline = absl::GetFlag(FLAGS_baseline);
  options.wait_for_index_seconds = absl::GetFlag(FLAGS_wait_for_index);
  LS_RETURN_IF_ERROR(eval::CheckEvalOptions(options));  // before dialling
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
  items::ImageResolver resolver;
  LS_ASSIGN_OR_RETURN(eval::EvalResult r, RunEval(search, options, &resolver));
  bar.Finish();
  *ctx.out << (JsonFromFlags() ? EvalJson(r) + "\n" : EvalTable(r));
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

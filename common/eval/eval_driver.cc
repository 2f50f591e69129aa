#include "common/eval/eval_driver.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/data/dataset.h"
#include "common/eval/knn_ranking.h"
#include "common/eval/retrieval_quality.h"
#include "common/index/metric.h"
#include "common/index/metric_proto.h"

namespace latentsearch::eval {
namespace {

struct QueryItem {
  std::string id;  // for item queries ("" for vector queries)
  int32_t label;
  std::string uri;
  std::vector<float> vector;  // for vector queries
};

// The raw pixels of the baseline, scaled to [0, 1].
struct Pixels {
  std::vector<float> base;     // items_.size() × dim
  std::vector<float> queries;  // queries_.size() × dim
  size_t dim = 0;
};

// One evaluation: the collection's items, the drawn queries and the rows
// measured so far.
class Evaluation {
 public:
  Evaluation(SearchBackend& backend, const EvalOptions& options, items::ImageResolver* resolver)
      : backend_(backend), options_(options), resolver_(resolver) {}

  absl::StatusOr<EvalResult> Run();

 private:
  void Note(const std::string& line) const {
    if (options_.progress) options_.progress(line);
  }
  absl::Status LoadCollection();
  absl::StatusOr<std::vector<QueryItem>> QueryPool();
  absl::Status DrawQueries();
  // Items of the query's class other than itself (item queries).
  uint64_t Relevant(const QueryItem& q) const;
  bool Kept(v1::Metric metric, v1::IndexKind kind) const;
  absl::Status ModelRows();
  // One (metric, kind) row; `top` gets each query's first k ids.
  absl::StatusOr<EvalRow> ModelRow(v1::Metric metric, v1::IndexKind kind,
                                   std::vector<std::vector<std::string>>* top);
  v1::SearchBatchRequest BatchRequest(v1::Metric metric, v1::IndexKind kind, size_t first,
                                      size_t last) const;
  // Raw pixels of the items (base) and the queries, through their uris.
  absl::Status ReadPixels(Pixels* pixels);
  absl::Status BaselineRows();
  // `labels`: the items' labels; `self_rows`: each query's item row (empty
  // for vector queries).
  absl::StatusOr<EvalRow> BaselineRow(v1::Metric metric, const Pixels& pixels,
                                      const std::vector<int32_t>& labels,
                                      const std::vector<uint32_t>& self_rows);

  SearchBackend& backend_;
  const EvalOptions& options_;
  items::ImageResolver* resolver_;
  EvalResult result_;
  v1::CollectionInfo info_;
  std::vector<v1::Item> items_;
  std::map<int32_t, uint64_t> class_count_;
  std::vector<QueryItem> queries_;
  std::vector<v1::Metric> metrics_;
  bool item_queries_ = true;
  int depth_ = 0;           // max(k, map_depth)
  uint32_t k_request_ = 0;  // neighbours asked per query
};

absl::Status Evaluation::LoadCollection() {
  LS_ASSIGN_OR_RETURN(info_, backend_.GetCollection(options_.collection));
  result_.collection = options_.collection;
  result_.query_collection = options_.query_collection;
  result_.model = info_.model();
  result_.dim = info_.dim();
  result_.seed = options_.seed;
  result_.k = options_.k;
  result_.map_depth = options_.map_depth;
  Note("listing items");
  LS_ASSIGN_OR_RETURN(items_, backend_.ListAllItems(options_.collection, false));
  result_.items = items_.size();
  for (const v1::Item& item : items_) {
    if (item.label() >= 0) ++class_count_[item.label()];
  }
  if (class_count_.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection '", options_.collection,
                     "' has no labelled items; eval measures retrieval by class label"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<QueryItem>> Evaluation::QueryPool() {
  std::vector<QueryItem> pool;
  if (item_queries_) {
    for (const v1::Item& item : items_) {
      if (item.label() >= 0) pool.push_back({item.id(), item.label(), item.uri(), {}});
    }
    return pool;
  }
  LS_ASSIGN_OR_RETURN(v1::CollectionInfo qinfo, backend_.GetCollection(options_.query_collection));
  if (qinfo.dim() != info_.dim()) {
    return absl::FailedPreconditionError(
        absl::StrCat("query collection '", options_.query_collection, "' has dim ", qinfo.dim(),
                     ", '", options_.collection, "' has dim ", info_.dim(), "; they must match"));
  }
  LS_ASSIGN_OR_RETURN(std::vector<v1::Item> qitems,
                      backend_.ListAllItems(options_.query_collection, true));
  for (v1::Item& item : qitems) {
    if (item.label() < 0) continue;
    pool.push_back({"", item.label(), item.uri(),
                    std::vector<float>(item.vector().begin(), item.vector().end())});
  }
  if (pool.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("query collection '", options_.query_collection, "' has no labelled items"));
  }
  return pool;
}

absl::Status Evaluation::DrawQueries() {
  item_queries_ = options_.query_collection.empty();
  LS_ASSIGN_OR_RETURN(std::vector<QueryItem> pool, QueryPool());
  for (size_t i : data::SampleIndices(pool.size(), options_.num_queries, options_.seed)) {
    queries_.push_back(std::move(pool[i]));
  }
  result_.num_queries = static_cast<int>(queries_.size());
  depth_ = std::max(options_.k, options_.map_depth);
  k_request_ = static_cast<uint32_t>(depth_ + (item_queries_ ? 1 : 0));
  return absl::OkStatus();
}

uint64_t Evaluation::Relevant(const QueryItem& q) const {
  auto it = class_count_.find(q.label);
  const uint64_t n = it == class_count_.end() ? 0 : it->second;
  return item_queries_ && n > 0 ? n - 1 : n;
}

bool Evaluation::Kept(v1::Metric metric, v1::IndexKind kind) const {
  for (const v1::IndexStats& s : info_.indexes()) {
    if (s.metric() == metric && s.kind() == kind) return true;
  }
  return false;
}

v1::SearchBatchRequest Evaluation::BatchRequest(v1::Metric metric, v1::IndexKind kind, size_t first,
                                                size_t last) const {
  const uint32_t ef = options_.ef != 0 ? options_.ef : std::max<uint32_t>(128, k_request_);
  v1::SearchBatchRequest req;
  req.set_collection(options_.collection);
  for (size_t q = first; q < last; ++q) {
    v1::SearchRequest* r = req.add_queries();
    if (item_queries_) {
      r->set_item_id(queries_[q].id);
    } else {
      r->mutable_vector()->mutable_values()->Add(queries_[q].vector.begin(),
                                                 queries_[q].vector.end());
    }
    r->set_metric(metric);
    r->set_index_kind(kind);
    r->set_k(k_request_);
    if (kind == v1::INDEX_KIND_HNSW) r->set_ef(ef);
  }
  return req;
}

absl::StatusOr<EvalRow> Evaluation::ModelRow(v1::Metric metric, v1::IndexKind kind,
                                             std::vector<std::vector<std::string>>* top) {
  EvalRow row;
  row.source = "model";
  row.metric = metric;
  row.index_kind = kind;
  QualityAccumulator acc;
  top->assign(queries_.size(), {});
  const size_t batch = static_cast<size_t>(options_.batch_size);
  for (size_t first = 0; first < queries_.size(); first += batch) {
    const size_t last = std::min(queries_.size(), first + batch);
    LS_ASSIGN_OR_RETURN(v1::SearchBatchResponse resp,
                        backend_.SearchBatch(BatchRequest(metric, kind, first, last)));
    if (resp.results_size() != static_cast<int>(last - first)) {
      return absl::InternalError(absl::StrCat("the search backend answered a batch of ",
                                              last - first, " queries with ", resp.results_size(),
                                              " results"));
    }
    for (size_t q = first; q < last; ++q) {
      const v1::SearchResponse& sr = resp.results(static_cast<int>(q - first));
      if (sr.exact_fallback()) ++row.exact_fallbacks;
      std::vector<int32_t> excl, incl;
      for (const v1::Neighbor& n : sr.neighbors()) {
        if (static_cast<int>(incl.size()) < options_.k) incl.push_back(n.label());
        if (item_queries_ && n.id() == queries_[q].id) continue;
        if (static_cast<int>(excl.size()) < depth_) excl.push_back(n.label());
        if (static_cast<int>((*top)[q].size()) < options_.k) (*top)[q].push_back(n.id());
      }
      acc.Add(excl, incl, queries_[q].label, options_.k, options_.map_depth, Relevant(queries_[q]));
    }
  }
  row.precision_at_k = acc.precision();
  row.precision_at_k_including_self = acc.precision_including_self();
  row.map = acc.mean_average_precision();
  return row;
}

absl::Status Evaluation::ModelRows() {
  std::vector<v1::IndexKind> kinds = options_.index_kinds;
  if (kinds.empty()) kinds = {v1::INDEX_KIND_EXACT, v1::INDEX_KIND_HNSW};
  if (std::find(kinds.begin(), kinds.end(), v1::INDEX_KIND_HNSW) != kinds.end() &&
      options_.wait_for_index_seconds > 0) {
    Note("waiting for HNSW indexes");
    LS_RETURN_IF_ERROR(
        backend_.WaitForIndexes(options_.collection, options_.wait_for_index_seconds));
  }
  for (v1::Metric metric : metrics_) {
    std::vector<std::vector<std::string>> exact_top;
    for (v1::IndexKind kind : kinds) {
      if (!Kept(metric, kind)) continue;
      Note(absl::StrCat("searching: ", MetricLabel(metric), " ", IndexKindLabel(kind)));
      std::vector<std::vector<std::string>> top;
      LS_ASSIGN_OR_RETURN(EvalRow row, ModelRow(metric, kind, &top));
      if (kind == v1::INDEX_KIND_EXACT) {
        exact_top = std::move(top);
      } else if (!exact_top.empty()) {
        row.recall_vs_exact = MeanRecallAtK(top, exact_top, options_.k);
      }
      result_.rows.push_back(std::move(row));
    }
  }
  return absl::OkStatus();
}

absl::Status Evaluation::ReadPixels(Pixels* pixels) {
  auto append = [&](const std::string& uri, std::vector<float>* out) -> absl::Status {
    LS_ASSIGN_OR_RETURN(image::Image img, resolver_->Resolve(uri));
    if (pixels->dim == 0) pixels->dim = img.num_bytes();
    if (img.num_bytes() != pixels->dim) {
      return absl::FailedPreconditionError(absl::StrCat("images differ in size (", uri, " has ",
                                                        img.num_bytes(), " bytes, expected ",
                                                        pixels->dim, ")"));
    }
    for (uint8_t p : img.pixels) out->push_back(p / 255.f);
    return absl::OkStatus();
  };
  for (const v1::Item& item : items_) LS_RETURN_IF_ERROR(append(item.uri(), &pixels->base));
  for (const QueryItem& q : queries_) LS_RETURN_IF_ERROR(append(q.uri, &pixels->queries));
  return absl::OkStatus();
}

absl::StatusOr<EvalRow> Evaluation::BaselineRow(v1::Metric metric, const Pixels& pixels,
                                                const std::vector<int32_t>& labels,
                                                const std::vector<uint32_t>& self_rows) {
  Note(absl::StrCat("raw-pixel baseline: ", MetricLabel(metric)));
  LS_ASSIGN_OR_RETURN(index::Metric im, index::MetricFromProto(metric, false));
  KnnRankOptions ro;
  ro.k = k_request_;
  ro.self_rows = self_rows;
  LS_ASSIGN_OR_RETURN(std::vector<RankedLabels> ranked,
                      KnnRankedLabels(im, pixels.base, labels, pixels.queries, pixels.dim, ro));
  QualityAccumulator acc;
  for (size_t q = 0; q < queries_.size(); ++q) {
    acc.Add(ranked[q].excluding_self, ranked[q].including_self, queries_[q].label, options_.k,
            options_.map_depth, Relevant(queries_[q]));
  }
  EvalRow row;
  row.source = "raw pixels";
  row.metric = metric;
  row.index_kind = v1::INDEX_KIND_EXACT;
  row.precision_at_k = acc.precision();
  row.precision_at_k_including_self = acc.precision_including_self();
  row.map = acc.mean_average_precision();
  return row;
}

absl::Status Evaluation::BaselineRows() {
  // A missing resolver or unreadable images leave the rows out and say why
  // (baseline_note) rather than failing the model rows measured so far.
  if (resolver_ == nullptr) {
    result_.baseline_note = "skipped: no image resolver";
    return absl::OkStatus();
  }
  Note("raw-pixel baseline: reading pixels");
  Pixels pixels;
  if (absl::Status s = ReadPixels(&pixels); !s.ok()) {
    result_.baseline_note = absl::StrCat("skipped: ", s.message());
    return absl::OkStatus();
  }
  std::vector<int32_t> labels;
  absl::flat_hash_map<std::string, uint32_t> row_of;
  for (size_t i = 0; i < items_.size(); ++i) {
    labels.push_back(items_[i].label());
    row_of[items_[i].id()] = static_cast<uint32_t>(i);
  }
  std::vector<uint32_t> self_rows;
  if (item_queries_) {
    for (const QueryItem& q : queries_) {
      auto it = row_of.find(q.id);
      self_rows.push_back(it == row_of.end() ? kNotInBase : it->second);
    }
  }
  for (v1::Metric metric : metrics_) {
    LS_ASSIGN_OR_RETURN(EvalRow row, BaselineRow(metric, pixels, labels, self_rows));
    result_.rows.push_back(std::move(row));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Evaluation::Run() {
  const absl::Time start = absl::Now();
  if (options_.collection.empty()) return absl::InvalidArgumentError("eval needs a collection");
  LS_RETURN_IF_ERROR(CheckEvalOptions(options_));
  LS_RETURN_IF_ERROR(LoadCollection());
  LS_RETURN_IF_ERROR(DrawQueries());
  metrics_ = options_.metrics;
  if (metrics_.empty()) metrics_ = {v1::METRIC_L1, v1::METRIC_L2, v1::METRIC_COSINE};
  LS_RETURN_IF_ERROR(ModelRows());
  if (options_.baseline) LS_RETURN_IF_ERROR(BaselineRows());
  result_.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return std::move(result_);
}

}  // namespace

absl::Status CheckEvalOptions(const EvalOptions& options) {
  if (options.k < 1 || options.k > 999 || options.map_depth < 1 || options.map_depth > 999 ||
      options.num_queries < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval options k ", options.k, ", map_depth ", options.map_depth, ", queries ",
                     options.num_queries, ", batch_size ", options.batch_size,
                     ": expected k and map_depth in 1..999, queries and batch_size >= 1"));
  }
  for (v1::Metric metric : options.metrics) {
    LS_RETURN_IF_ERROR(index::MetricFromProto(metric, false).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> RunEval(SearchBackend& backend, const EvalOptions& options,
                                   items::ImageResolver* resolver) {
  Evaluation evaluation(backend, options, resolver);
  return evaluation.Run();
}

}  // namespace latentsearch::eval

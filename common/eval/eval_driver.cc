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
#include "common/eval/retrieval_quality.h"
#include "common/index/exact.h"
#include "common/index/metric.h"

namespace latentsearch::eval {
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

absl::Status CheckOptions(const EvalOptions& options) {
  if (options.collection.empty()) return absl::InvalidArgumentError("eval needs a collection");
  if (options.k < 1 || options.k > 999 || options.map_depth < 1 || options.map_depth > 999 ||
      options.num_queries < 1 || options.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval options k ", options.k, ", map depth ", options.map_depth, ", queries ",
                     options.num_queries, ": expected k and depth 1..999, at least 1 query"));
  }
  return absl::OkStatus();
}

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
  absl::Status ReadPixels(std::vector<float>* base, std::vector<float>* queries, size_t* dim);
  absl::Status BaselineRows();
  absl::StatusOr<EvalRow> BaselineRow(v1::Metric metric, const std::vector<float>& base,
                                      const std::vector<float>& queries, size_t dim);

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

absl::Status Evaluation::ReadPixels(std::vector<float>* base, std::vector<float>* queries,
                                    size_t* dim) {
  auto append = [&](const std::string& uri, std::vector<float>* out) -> absl::Status {
    LS_ASSIGN_OR_RETURN(image::Image img, resolver_->Resolve(uri));
    if (*dim == 0) *dim = img.num_bytes();
    if (img.num_bytes() != *dim) {
      return absl::FailedPreconditionError(absl::StrCat("images differ in size (", uri, " has ",
                                                        img.num_bytes(), " bytes, expected ", *dim,
                                                        ")"));
    }
    for (uint8_t p : img.pixels) out->push_back(p / 255.f);
    return absl::OkStatus();
  };
  for (const v1::Item& item : items_) LS_RETURN_IF_ERROR(append(item.uri(), base));
  for (const QueryItem& q : queries_) LS_RETURN_IF_ERROR(append(q.uri, queries));
  return absl::OkStatus();
}

absl::StatusOr<EvalRow> Evaluation::BaselineRow(v1::Metric metric, const std::vector<float>& base,
                                                const std::vector<float>& queries, size_t dim) {
  Note(absl::StrCat("raw-pixel baseline: ", MetricLabel(metric)));
  const index::Metric im = ToIndexMetric(metric);
  std::vector<float> b = base, qs = queries;
  if (im == index::Metric::kCosine) {
    index::NormalizeRows(b.data(), items_.size(), dim);
    index::NormalizeRows(qs.data(), queries_.size(), dim);
  }
  index::ExactSearchOptions eo;
  eo.k = k_request_;
  std::vector<std::vector<index::Neighbor>> res;
  LS_RETURN_IF_ERROR(
      index::ExactSearch(im, b.data(), items_.size(), dim, qs.data(), queries_.size(), eo, &res));
  absl::flat_hash_map<std::string, uint32_t> slot_of;
  for (size_t i = 0; i < items_.size(); ++i) slot_of[items_[i].id()] = static_cast<uint32_t>(i);
  QualityAccumulator acc;
  for (size_t q = 0; q < queries_.size(); ++q) {
    const uint32_t self = item_queries_ ? slot_of[queries_[q].id] : UINT32_MAX;
    std::vector<int32_t> excl, incl;
    for (const index::Neighbor& n : res[q]) {
      const int32_t label = items_[n.slot].label();
      if (static_cast<int>(incl.size()) < options_.k) incl.push_back(label);
      if (n.slot == self) continue;
      if (static_cast<int>(excl.size()) < depth_) excl.push_back(label);
    }
    acc.Add(excl, incl, queries_[q].label, options_.k, options_.map_depth, Relevant(queries_[q]));
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
  Note("raw-pixel baseline: reading pixels");
  std::vector<float> base, queries;
  size_t dim = 0;
  if (absl::Status s = ReadPixels(&base, &queries, &dim); !s.ok()) {
    result_.baseline_note = absl::StrCat("skipped: ", s.message());
    return absl::OkStatus();
  }
  for (v1::Metric metric : metrics_) {
    LS_ASSIGN_OR_RETURN(EvalRow row, BaselineRow(metric, base, queries, dim));
    result_.rows.push_back(std::move(row));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Evaluation::Run() {
  const absl::Time start = absl::Now();
  LS_RETURN_IF_ERROR(CheckOptions(options_));
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

absl::StatusOr<EvalResult> RunEval(SearchBackend& backend, const EvalOptions& options,
                                   items::ImageResolver* resolver) {
  Evaluation evaluation(backend, options, resolver);
  return evaluation.Run();
}

}  // namespace latentsearch::eval

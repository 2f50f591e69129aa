#include "services/search/convert.h"

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace latentsearch::search {
namespace {

using google::protobuf::util::TimeUtil;

void SetTime(int64_t us, google::protobuf::Timestamp* t) {
  if (us > 0) *t = TimeUtil::MicrosecondsToTimestamp(us);
}

v1::IndexState StateToProto(index::IndexState s) {
  switch (s) {
    case index::IndexState::kReady:
      return v1::INDEX_STATE_READY;
    case index::IndexState::kBuilding:
      return v1::INDEX_STATE_BUILDING;
    case index::IndexState::kStale:
      return v1::INDEX_STATE_STALE;
  }
  return v1::INDEX_STATE_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<bool> IsHnswFromProto(int kind) {
  switch (kind) {
    case v1::INDEX_KIND_UNSPECIFIED:
    case v1::INDEX_KIND_EXACT:
      return false;
    case v1::INDEX_KIND_HNSW:
      return true;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown index kind value ", kind,
                       "; allowed INDEX_KIND_EXACT (1), INDEX_KIND_HNSW (2)"));
  }
}

absl::StatusOr<CreateSpec> CreateSpecFromProto(const v1::CreateCollectionRequest& r) {
  CreateSpec spec;
  spec.name = r.name();
  spec.dim = r.dim();
  spec.model_name = r.model().name();
  spec.model_version = r.model().version();
  for (int m : r.metrics()) {
    LS_ASSIGN_OR_RETURN(index::Metric metric, MetricFromProto(m, false));
    spec.metrics.push_back(metric);
  }
  if (r.index_kinds_size() > 0) {
    spec.hnsw = false;
    for (int k : r.index_kinds()) {
      if (k == v1::INDEX_KIND_UNSPECIFIED) {
        return absl::InvalidArgumentError(
            "INDEX_KIND_UNSPECIFIED in index_kinds; use INDEX_KIND_EXACT or "
            "INDEX_KIND_HNSW (or leave index_kinds empty for both)");
      }
      LS_ASSIGN_OR_RETURN(bool hnsw, IsHnswFromProto(k));
      spec.hnsw = spec.hnsw || hnsw;
    }
  }
  spec.m = r.hnsw().m();
  spec.ef_construction = r.hnsw().ef_construction();
  spec.ef_search = r.hnsw().ef_search();
  spec.if_not_exists = r.if_not_exists();
  return spec;
}

void CollectionInfoToProto(const CollectionInfo& info, v1::CollectionInfo* out) {
  const index::CollectionConfig& c = info.config;
  out->set_name(c.name);
  out->set_dim(c.dim);
  out->mutable_model()->set_name(c.model_name);
  out->mutable_model()->set_version(c.model_version);
  out->mutable_hnsw()->set_m(static_cast<uint32_t>(c.hnsw_params.m));
  out->mutable_hnsw()->set_ef_construction(static_cast<uint32_t>(c.hnsw_params.ef_construction));
  out->mutable_hnsw()->set_ef_search(c.ef_search);
  for (index::Metric m : c.metrics) out->add_metrics(MetricToProto(m));
  out->add_index_kinds(v1::INDEX_KIND_EXACT);
  if (c.hnsw) out->add_index_kinds(v1::INDEX_KIND_HNSW);
  out->set_item_count(info.stats.item_count);
  out->set_deleted_count(info.stats.deleted_count);
  SetTime(c.created_at_us, out->mutable_created_at());
  SetTime(info.stats.updated_at_us, out->mutable_updated_at());
  out->set_disk_bytes(info.stats.disk_bytes);
  for (const index::IndexStatsEntry& e : info.stats.indexes) {
    v1::IndexStats* s = out->add_indexes();
    s->set_metric(MetricToProto(e.metric));
    s->set_kind(e.hnsw ? v1::INDEX_KIND_HNSW : v1::INDEX_KIND_EXACT);
    s->set_state(StateToProto(e.state));
    s->set_items(e.items);
    s->set_memory_bytes(e.memory_bytes);
    s->set_last_build_seconds(e.last_build_seconds);
    SetTime(e.built_at_us, s->mutable_built_at());
  }
}

absl::Status SearchFromProto(const v1::SearchRequest& r, Query* query, QueryOptions* options) {
  switch (r.query_case()) {
    case v1::SearchRequest::kVector:
      query->vector.assign(r.vector().values().begin(), r.vector().values().end());
      if (query->vector.empty()) {
        return absl::InvalidArgumentError("empty query vector; it needs `dim` values");
      }
      break;
    case v1::SearchRequest::kItemId:
      query->item_id = r.item_id();
      if (query->item_id.empty()) {
        return absl::InvalidArgumentError("empty item_id; name an item of the collection");
      }
      query->exclude_self = r.exclude_self();
      break;
    case v1::SearchRequest::kImage:
      return absl::InvalidArgumentError("image queries are answered by Search only");
    case v1::SearchRequest::QUERY_NOT_SET:
      return absl::InvalidArgumentError("empty query: set one of vector, image or item_id");
  }
  return OptionsFromProto(r, options);
}

absl::Status OptionsFromProto(const v1::SearchRequest& r, QueryOptions* options) {
  LS_ASSIGN_OR_RETURN(options->metric, MetricFromProto(r.metric(), true));
  LS_ASSIGN_OR_RETURN(options->hnsw, IsHnswFromProto(r.index_kind()));
  options->k = r.k() == 0 ? 10 : r.k();
  options->ef = r.ef();
  options->labels.assign(r.labels().begin(), r.labels().end());
  options->include_vectors = r.include_vectors();
  return absl::OkStatus();
}

void SearchAnswerToProto(const SearchAnswer& answer, const QueryOptions& options,
                         v1::SearchResponse* out) {
  for (const index::Hit& h : answer.result.hits) {
    v1::Neighbor* n = out->add_neighbors();
    n->set_id(h.id);
    n->set_distance(h.distance);
    n->set_label(h.label);
    n->set_uri(h.uri);
    for (float f : h.vector) n->add_vector(f);
  }
  out->set_metric(MetricToProto(options.metric));
  out->set_index_kind(options.hnsw ? v1::INDEX_KIND_HNSW : v1::INDEX_KIND_EXACT);
  out->mutable_model()->set_name(answer.model_name);
  out->mutable_model()->set_version(answer.model_version);
  out->set_ef(static_cast<uint32_t>(answer.result.ef));
  out->set_exact_fallback(answer.result.exact_fallback);
}

absl::StatusOr<index::ItemBatch> ItemBatchFromProto(const v1::UpsertRequest& request, uint32_t dim,
                                                    int message, const std::string& collection) {
  index::ItemBatch batch;
  batch.metas.reserve(request.items_size());
  batch.vectors.reserve(size_t{dim} * request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::Item& item = request.items(i);
    if (static_cast<uint32_t>(item.vector_size()) != dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "message ", message, ", item ", i, " (id '", item.id().substr(0, 64), "') has ",
          item.vector_size(), " values; collection '", collection, "' has dim ", dim));
    }
    batch.metas.push_back({item.id(), item.label(), item.uri()});
    batch.vectors.insert(batch.vectors.end(), item.vector().begin(), item.vector().end());
  }
  return batch;
}

void ItemPageToProto(const ItemPage& page, v1::ListItemsResponse* out) {
  const size_t dim = page.metas.empty() ? 0 : page.vectors.size() / page.metas.size();
  for (size_t i = 0; i < page.metas.size(); ++i) {
    v1::Item* item = out->add_items();
    item->set_id(page.metas[i].id);
    item->set_label(page.metas[i].label);
    item->set_uri(page.metas[i].uri);
    if (dim > 0) {
      item->mutable_vector()->Add(page.vectors.begin() + i * dim,
                                  page.vectors.begin() + (i + 1) * dim);
    }
  }
  out->set_next_page_token(page.next_page_token);
  out->set_item_count(page.item_count);
}

void SnapshotInfoToProto(const index::SnapshotInfoData& info, v1::SnapshotInfo* out) {
  out->set_collection(info.collection);
  out->set_path(info.path);
  out->set_bytes(info.bytes);
  out->set_items(info.items);
  *out->mutable_written_at() = TimeUtil::MicrosecondsToTimestamp(info.written_at_us);
}

}  // namespace latentsearch::search

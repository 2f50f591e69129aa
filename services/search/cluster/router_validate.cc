// Request checks and placement specs for the router (router_validate.h).
// Thread-safety: pure functions.
#include "services/search/cluster/router_validate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/cluster/consistency.h"
#include "common/cluster/placement.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "services/search/collection_manager.h"
#include "services/search/convert.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::cluster::ConsistencyLevelName;
using ::latentsearch::cluster::kMaxReplicationFactor;
using ::latentsearch::cluster::kMaxShards;

// As collection_manager.cc.
constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxUriBytes = 2048;
constexpr uint32_t kMaxEf = 4096;

absl::Status CheckFinite(const float* v, size_t n, const std::string& what) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) {
      return absl::InvalidArgumentError(absl::StrCat(what, " value ", i, " is ",
                                                     std::isnan(v[i]) ? "NaN" : "infinite",
                                                     "; vectors must be finite"));
    }
  }
  return absl::OkStatus();
}

bool KnownLevel(int level) {
  return level >= v1::CONSISTENCY_LEVEL_UNSPECIFIED && level <= v1::CONSISTENCY_LEVEL_ALL;
}

std::string MetricNames(const v1::CreateCollectionRequest& spec) {
  std::vector<std::string> names;
  for (int m : spec.metrics()) {
    absl::StatusOr<index::Metric> metric = index::MetricFromProto(m, false);
    names.emplace_back(metric.ok() ? index::MetricName(*metric) : absl::StrCat(m));
  }
  return absl::StrJoin(names, ", ");
}

bool KeepsHnsw(const v1::CreateCollectionRequest& spec) {
  return std::find(spec.index_kinds().begin(), spec.index_kinds().end(), v1::INDEX_KIND_HNSW) !=
         spec.index_kinds().end();
}

}  // namespace

absl::StatusOr<v1::CreateCollectionRequest> PlacementSpec(const v1::CreateCollectionRequest& r,
                                                          uint32_t max_dim) {
  LS_ASSIGN_OR_RETURN(CreateSpec spec, CreateSpecFromProto(r));
  LS_ASSIGN_OR_RETURN(index::CollectionConfig config, ConfigFromSpec(spec, max_dim));
  const uint32_t shards = r.shards() == 0 ? 1 : r.shards();
  if (shards > kMaxShards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shards ", r.shards(), " is out of range; allowed 1..", kMaxShards, " (0 = 1)"));
  }
  const uint32_t rf = r.replication_factor() == 0 ? 1 : r.replication_factor();
  if (rf > kMaxReplicationFactor) {
    return absl::InvalidArgumentError(absl::StrCat("replication_factor ", r.replication_factor(),
                                                   " is out of range; allowed 1..",
                                                   kMaxReplicationFactor, " (0 = 1)"));
  }
  if (!KnownLevel(r.write_consistency())) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown write_consistency value ", r.write_consistency(),
                     "; allowed CONSISTENCY_LEVEL_ONE (1), CONSISTENCY_LEVEL_QUORUM (2), "
                     "CONSISTENCY_LEVEL_ALL (3), or 0 for the default (QUORUM)"));
  }
  v1::CreateCollectionRequest out;
  out.set_name(config.name);
  out.set_dim(config.dim);
  out.mutable_model()->set_name(config.model_name);
  out.mutable_model()->set_version(config.model_version);
  out.mutable_hnsw()->set_m(static_cast<uint32_t>(config.hnsw_params.m));
  out.mutable_hnsw()->set_ef_construction(
      static_cast<uint32_t>(config.hnsw_params.ef_construction));
  out.mutable_hnsw()->set_ef_search(config.ef_search);
  for (index::Metric m : config.metrics) out.add_metrics(MetricToProto(m));
  out.add_index_kinds(v1::INDEX_KIND_EXACT);
  if (config.hnsw) out.add_index_kinds(v1::INDEX_KIND_HNSW);
  out.set_shards(shards);
  out.set_replication_factor(rf);
  out.set_write_consistency(r.write_consistency() == v1::CONSISTENCY_LEVEL_UNSPECIFIED
                                ? v1::CONSISTENCY_LEVEL_QUORUM
                                : r.write_consistency());
  return out;
}

bool SameSettings(const v1::CreateCollectionRequest& a, const v1::CreateCollectionRequest& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

std::string DescribeSettings(const v1::CreateCollectionRequest& s) {
  std::string model = s.model().name().empty() && s.model().version() == 0
                          ? "none"
                          : absl::StrCat(s.model().name(), " v", s.model().version());
  std::string metrics = MetricNames(s);
  std::replace(metrics.begin(), metrics.end(), ',', '/');
  metrics.erase(std::remove(metrics.begin(), metrics.end(), ' '), metrics.end());
  std::string kinds = KeepsHnsw(s) ? absl::StrCat("exact+hnsw (m ", s.hnsw().m(),
                                                  ", ef_construction ", s.hnsw().ef_construction(),
                                                  ", ef_search ", s.hnsw().ef_search(), ")")
                                   : "exact";
  return absl::StrCat("dim ", s.dim(), ", model ", model, ", metrics ", metrics, ", ", kinds, ", ",
                      s.shards(), " shards x ", s.replication_factor(), " replicas, writes ",
                      ConsistencyLevelName(s.write_consistency()));
}

v1::CollectionInfo InfoFromPlacement(const v1::CollectionPlacement& placement) {
  const v1::CreateCollectionRequest& s = placement.spec();
  v1::CollectionInfo info;
  info.set_name(s.name());
  info.set_dim(s.dim());
  *info.mutable_model() = s.model();
  *info.mutable_hnsw() = s.hnsw();
  *info.mutable_metrics() = s.metrics();
  *info.mutable_index_kinds() = s.index_kinds();
  if (placement.created_at_us() > 0) {
    *info.mutable_created_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(placement.created_at_us());
  }
  info.set_shards(s.shards());
  info.set_replication_factor(s.replication_factor());
  info.set_write_consistency(s.write_consistency());
  return info;
}

absl::StatusOr<v1::ConsistencyLevel> WriteLevel(int requested,
                                                const v1::CreateCollectionRequest& spec) {
  if (!KnownLevel(requested)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown consistency value ", requested,
                     "; allowed CONSISTENCY_LEVEL_ONE (1), CONSISTENCY_LEVEL_QUORUM (2), "
                     "CONSISTENCY_LEVEL_ALL (3), or 0 for the collection's default"));
  }
  int level = requested != v1::CONSISTENCY_LEVEL_UNSPECIFIED ? requested : spec.write_consistency();
  if (level == v1::CONSISTENCY_LEVEL_UNSPECIFIED) level = v1::CONSISTENCY_LEVEL_QUORUM;
  return static_cast<v1::ConsistencyLevel>(level);
}

absl::Status ValidateItems(const v1::UpsertRequest& request, uint32_t dim, int message,
                           const std::string& collection) {
  // The vector lengths first, with the standalone server's message.
  LS_RETURN_IF_ERROR(ItemBatchFromProto(request, dim, message, collection).status());
  for (int i = 0; i < request.items_size(); ++i) {
    const v1::Item& item = request.items(i);
    const std::string where = absl::StrCat("item ", i, " (id '", item.id().substr(0, 64), "')");
    if (item.id().empty() || item.id().size() > kMaxIdBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id has ", item.id().size(), " bytes; allowed 1..", kMaxIdBytes));
    }
    if (item.uri().size() > kMaxUriBytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": uri has ", item.uri().size(),
                                                     " bytes; allowed at most ", kMaxUriBytes));
    }
    if (item.label() < -1) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": label ", item.label(), "; allowed -1 (none) or >= 0"));
    }
    LS_RETURN_IF_ERROR(CheckFinite(item.vector().data(), item.vector_size(), where + " vector"));
  }
  return absl::OkStatus();
}

absl::Status ValidateQueryOptions(const v1::SearchRequest& request,
                                  const v1::CreateCollectionRequest& spec, uint32_t max_k,
                                  const std::string& where) {
  QueryOptions options;
  absl::Status s = OptionsFromProto(request, &options);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(where, s.message()));
  if (options.k == 0 || options.k > max_k) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "k ", options.k, " is out of range; allowed 1..", max_k, " (--max_k)"));
  }
  if (options.ef != 0 && (options.ef < options.k || options.ef > kMaxEf)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "ef ", options.ef, " is out of range; allowed k (", options.k, ")..",
                     kMaxEf, ", or 0 for the collection's default"));
  }
  const v1::Metric metric = MetricToProto(options.metric);
  if (std::find(spec.metrics().begin(), spec.metrics().end(), metric) == spec.metrics().end()) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, "collection '", spec.name(), "' does not index metric ",
                     index::MetricName(options.metric), "; it keeps ", MetricNames(spec)));
  }
  if (options.hnsw && !KeepsHnsw(spec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, "collection '", spec.name(), "' keeps no HNSW index; use the exact index"));
  }
  return absl::OkStatus();
}

absl::Status ValidateQuery(const v1::SearchRequest& request,
                           const v1::CreateCollectionRequest& spec, uint32_t max_k,
                           const std::string& where) {
  Query query;
  QueryOptions options;
  absl::Status s = SearchFromProto(request, &query, &options);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(where, s.message()));
  if (query.item_id.empty()) {
    if (query.vector.size() != spec.dim()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "query vector has ",
                                                     query.vector.size(), " values; collection '",
                                                     spec.name(), "' has dim ", spec.dim()));
    }
    LS_RETURN_IF_ERROR(
        CheckFinite(query.vector.data(), query.vector.size(), absl::StrCat(where, "query vector")));
  }
  return ValidateQueryOptions(request, spec, max_k, where);
}

absl::Status UnknownCollection(const std::string& name) {
  return absl::NotFoundError(
      absl::StrCat("no collection named '", name, "'; ListCollections shows the existing ones"));
}

}  // namespace latentsearch::search::cluster

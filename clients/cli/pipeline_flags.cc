#include "clients/cli/pipeline_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/cluster/consistency.h"

ABSL_FLAG(std::string, collection, "",
          "Collection name. ingest: \"\" = <model>-v<version>; query/eval: \"\" = the "
          "newest collection of --model; bench: \"\" = bench.");
ABSL_FLAG(std::string, model, "default", "Model name (ModelRef.name).");
ABSL_FLAG(uint32_t, shards, 0,
          "When the command creates the collection on a search cluster (a router): shards, "
          "1..256 (0 = 1).");
ABSL_FLAG(uint32_t, replication_factor, 0,
          "When the command creates the collection on a search cluster: copies of each shard, "
          "1..7 (0 = 1).");
ABSL_FLAG(std::string, write_consistency, "",
          "When the command creates the collection on a search cluster: one, quorum or all "
          "(\"\" = quorum).");
ABSL_FLAG(uint64_t, model_version, 0, "Model version; 0 = the newest.");
ABSL_FLAG(std::string, metric, "",
          "l1, l2, cosine, all, or a comma list (\"\" = the command's default: "
          "query and eval all, bench l2).");
ABSL_FLAG(std::string, index, "",
          "exact, hnsw or both (\"\" = the command's default: query and bench exact, "
          "eval both).");
ABSL_FLAG(uint32_t, k, 10, "Neighbours per query (1..1000).");
ABSL_FLAG(uint32_t, ef, 0, "HNSW candidate list size (0 = the collection's default).");

namespace latentsearch::cli {

absl::StatusOr<std::vector<v1::Metric>> MetricsFromFlag(const std::string& fallback) {
  std::string value = absl::GetFlag(FLAGS_metric);
  if (value.empty()) value = fallback;
  std::vector<v1::Metric> out;
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    if (part == "all") {
      out = {v1::METRIC_L1, v1::METRIC_L2, v1::METRIC_COSINE};
    } else if (part == "l1") {
      out.push_back(v1::METRIC_L1);
    } else if (part == "l2") {
      out.push_back(v1::METRIC_L2);
    } else if (part == "cosine") {
      out.push_back(v1::METRIC_COSINE);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--metric: '", part, "' is not a metric; use l1, l2, cosine, all or a comma list"));
    }
  }
  if (out.empty())
    return absl::InvalidArgumentError("--metric is empty; use l1, l2, cosine or all");
  return out;
}

absl::StatusOr<std::vector<v1::IndexKind>> IndexKindsFromFlag(const std::string& fallback) {
  std::string value = absl::GetFlag(FLAGS_index);
  if (value.empty()) value = fallback;
  std::vector<v1::IndexKind> out;
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    if (part == "both" || part == "all") {
      out = {v1::INDEX_KIND_EXACT, v1::INDEX_KIND_HNSW};
    } else if (part == "exact") {
      out.push_back(v1::INDEX_KIND_EXACT);
    } else if (part == "hnsw") {
      out.push_back(v1::INDEX_KIND_HNSW);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--index: '", part, "' is not an index kind; use exact, hnsw or both"));
    }
  }
  if (out.empty()) return absl::InvalidArgumentError("--index is empty; use exact, hnsw or both");
  return out;
}

std::vector<std::string> ClusterLayoutFlagNames() {
  return {"shards", "replication_factor", "write_consistency"};
}

absl::Status ApplyClusterLayoutFlags(v1::CreateCollectionRequest* request) {
  request->set_shards(absl::GetFlag(FLAGS_shards));
  request->set_replication_factor(absl::GetFlag(FLAGS_replication_factor));
  absl::StatusOr<v1::ConsistencyLevel> level =
      cluster::ParseConsistencyLevel(absl::GetFlag(FLAGS_write_consistency));
  if (!level.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--write_consistency: ", level.status().message()));
  }
  request->set_write_consistency(*level);
  return absl::OkStatus();
}

}  // namespace latentsearch::cli

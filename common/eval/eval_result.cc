#include "common/eval/eval_result.h"

#include "common/index/metric.h"
#include "common/index/metric_proto.h"

namespace latentsearch::eval {

std::string MetricLabel(v1::Metric metric) {
  // METRIC_UNSPECIFIED and unknown values print as the default, "l2".
  return std::string(
      index::MetricName(index::MetricFromProto(metric, true).value_or(index::Metric::kL2)));
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

}  // namespace latentsearch::eval

#include "common/eval/eval_result.h"

namespace latentsearch::eval {

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

}  // namespace latentsearch::eval

// What an evaluation of a collection's retrieval quality measured
// (eval_driver.h): one row per (source, metric, index kind), plus the
// labels the CLI and the HTTP gateway print for metrics and index kinds.
// Thread-safety: value types; functions are pure.
#ifndef LATENTSEARCH_COMMON_EVAL_EVAL_RESULT_H_
#define LATENTSEARCH_COMMON_EVAL_EVAL_RESULT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "latentsearch/v1/common.pb.h"

namespace latentsearch::eval {

// One row of the table.
struct EvalRow {
  std::string source;  // "model" or "raw pixels"
  v1::Metric metric = v1::METRIC_L2;
  v1::IndexKind index_kind = v1::INDEX_KIND_EXACT;
  double precision_at_k = 0;
  double precision_at_k_including_self = 0;
  double map = 0;
  // HNSW rows: recall@k against the exact row of the same metric.
  std::optional<double> recall_vs_exact;
  // HNSW rows: queries answered by the exact index instead.
  uint64_t exact_fallbacks = 0;
};

struct EvalResult {
  std::string collection;
  std::string query_collection;  // "" when queries came from `collection`
  v1::ModelRef model;            // the collection's model
  uint64_t items = 0;            // items in `collection`
  uint32_t dim = 0;
  int num_queries = 0;  // labelled queries measured
  uint64_t seed = 0;
  int k = 0;
  int map_depth = 0;
  std::vector<EvalRow> rows;
  double seconds = 0;
  // Why the raw-pixel rows are missing ("" when present or not asked for),
  // e.g. items whose uris name no image.
  std::string baseline_note;

  // The row for (source, metric, kind), or nullptr.
  const EvalRow* Find(const std::string& source, v1::Metric metric, v1::IndexKind kind) const;
};

// "l1", "l2", "cosine" (index::MetricName; METRIC_UNSPECIFIED and unknown
// values "l2") / "exact", "hnsw".
std::string MetricLabel(v1::Metric metric);
std::string IndexKindLabel(v1::IndexKind kind);

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_EVAL_RESULT_H_

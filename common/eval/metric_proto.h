// The wire metric (v1::Metric, common.proto) ↔ the one index::Metric
// (common/index/metric.h). Torch-free and gRPC-free (protobuf messages
// only), so that the evaluation here, the CLI and the search service
// (services/search/convert.cc keeps its own copy for now) can share one
// mapping.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_EVAL_METRIC_PROTO_H_
#define LATENTSEARCH_COMMON_EVAL_METRIC_PROTO_H_

#include "absl/status/statusor.h"
#include "common/index/metric.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::eval {

// METRIC_L1/L2/COSINE → kL1/kL2/kCosine; METRIC_UNSPECIFIED → kL2 when
// `allow_unspecified` (a request's default), else INVALID_ARGUMENT; any
// other value INVALID_ARGUMENT naming the allowed ones. `metric` is an int
// because proto3 enums carry unknown values.
absl::StatusOr<index::Metric> MetricFromProto(int metric, bool allow_unspecified);

// The inverse of MetricFromProto.
v1::Metric MetricToProto(index::Metric metric);

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_METRIC_PROTO_H_

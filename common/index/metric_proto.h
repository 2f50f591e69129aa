// The wire metric (v1::Metric, common.proto) ↔ the one index::Metric
// (common/index/metric.h): the one mapping the search service, the eval
// driver and the CLI share. Its own small library (ls_metric_proto), so that
// ls_index itself needs no protos.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_INDEX_METRIC_PROTO_H_
#define LATENTSEARCH_COMMON_INDEX_METRIC_PROTO_H_

#include "absl/status/statusor.h"
#include "common/index/metric.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::index {

// METRIC_L1/L2/COSINE → kL1/kL2/kCosine; METRIC_UNSPECIFIED → kL2 when
// `allow_unspecified` (a request's default), else INVALID_ARGUMENT; any
// other value INVALID_ARGUMENT naming the allowed ones. `metric` is an int
// because proto3 enums carry unknown values.
absl::StatusOr<Metric> MetricFromProto(int metric, bool allow_unspecified);

// The inverse of MetricFromProto.
v1::Metric MetricToProto(Metric metric);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_METRIC_PROTO_H_

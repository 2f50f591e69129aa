#include "common/index/metric_proto.h"

#include "absl/strings/str_cat.h"

namespace latentsearch::index {

absl::StatusOr<index::Metric> MetricFromProto(int metric, bool allow_unspecified) {
  switch (metric) {
    case v1::METRIC_L1:
      return index::Metric::kL1;
    case v1::METRIC_L2:
      return index::Metric::kL2;
    case v1::METRIC_COSINE:
      return index::Metric::kCosine;
    case v1::METRIC_UNSPECIFIED:
      if (allow_unspecified) return index::Metric::kL2;
      return absl::InvalidArgumentError(
          "METRIC_UNSPECIFIED is not a metric here; use METRIC_L1, METRIC_L2 or "
          "METRIC_COSINE");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown metric value ", metric,
                       "; allowed METRIC_L1 (1), METRIC_L2 (2), METRIC_COSINE (3)"));
  }
}

v1::Metric MetricToProto(index::Metric metric) {
  switch (metric) {
    case index::Metric::kL1:
      return v1::METRIC_L1;
    case index::Metric::kL2:
      return v1::METRIC_L2;
    case index::Metric::kCosine:
      return v1::METRIC_COSINE;
  }
  return v1::METRIC_UNSPECIFIED;
}

}  // namespace latentsearch::index

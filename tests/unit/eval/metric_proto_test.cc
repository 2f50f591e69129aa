// The wire metric mapping (common/index/metric_proto.h) both ways, its
// refusals, and the metric labels eval prints (eval_result.h).
#include "common/index/metric_proto.h"

#include "common/eval/eval_result.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::eval {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MetricProtoTest, MapsBothWaysAndLabels) {
  for (index::Metric m : index::kAllMetrics) {
    ASSERT_OK_AND_ASSIGN(index::Metric back,
                         index::MetricFromProto(index::MetricToProto(m), false));
    EXPECT_EQ(back, m);
    EXPECT_EQ(MetricLabel(index::MetricToProto(m)), index::MetricName(m));
  }
  EXPECT_EQ(index::MetricToProto(index::Metric::kCosine), v1::METRIC_COSINE);
  ASSERT_OK_AND_ASSIGN(index::Metric m, index::MetricFromProto(v1::METRIC_UNSPECIFIED, true));
  EXPECT_EQ(m, index::Metric::kL2);
  EXPECT_THAT(index::MetricFromProto(v1::METRIC_UNSPECIFIED, false).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("METRIC_UNSPECIFIED")));
  EXPECT_THAT(index::MetricFromProto(42, true).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown metric value 42")));
  // The labels eval prints: unspecified and unknown values as "l2".
  EXPECT_EQ(MetricLabel(v1::METRIC_L1), "l1");
  EXPECT_EQ(MetricLabel(v1::METRIC_L2), "l2");
  EXPECT_EQ(MetricLabel(v1::METRIC_COSINE), "cosine");
  EXPECT_EQ(MetricLabel(v1::METRIC_UNSPECIFIED), "l2");
  EXPECT_EQ(MetricLabel(static_cast<v1::Metric>(42)), "l2");
}

}  // namespace
}  // namespace latentsearch::eval

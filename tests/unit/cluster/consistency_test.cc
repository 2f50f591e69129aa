// RequiredAcks and the consistency level names (consistency.h).
#include "common/cluster/consistency.h"

#include "common/testing/status_matchers.h"
#include "gtest/gtest.h"

namespace latentsearch::cluster {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ConsistencyTest, RequiredAcks) {
  for (uint32_t rf = 1; rf <= 7; ++rf) {
    EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_ONE, rf), 1u);
    EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_ALL, rf), rf);
    EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_QUORUM, rf), rf / 2 + 1);
    EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_UNSPECIFIED, rf), rf / 2 + 1);
  }
  EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_QUORUM, 1), 1u);
  EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_QUORUM, 2), 2u);
  EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_QUORUM, 3), 2u);
  EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_QUORUM, 4), 3u);
  EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_ALL, 0), 1u);
  EXPECT_EQ(RequiredAcks(v1::CONSISTENCY_LEVEL_QUORUM, 0), 1u);
}

TEST(ConsistencyTest, ParsesNamesInAnyCase) {
  EXPECT_THAT(ParseConsistencyLevel("one"), IsOkAndHolds(v1::CONSISTENCY_LEVEL_ONE));
  EXPECT_THAT(ParseConsistencyLevel("QUORUM"), IsOkAndHolds(v1::CONSISTENCY_LEVEL_QUORUM));
  EXPECT_THAT(ParseConsistencyLevel("All"), IsOkAndHolds(v1::CONSISTENCY_LEVEL_ALL));
  EXPECT_THAT(ParseConsistencyLevel(""), IsOkAndHolds(v1::CONSISTENCY_LEVEL_UNSPECIFIED));
}

TEST(ConsistencyTest, RejectsOtherWords) {
  EXPECT_THAT(ParseConsistencyLevel("majority"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'majority' is not one of: one, quorum, all")));
}

TEST(ConsistencyTest, NamesRoundTrip) {
  for (auto level :
       {v1::CONSISTENCY_LEVEL_ONE, v1::CONSISTENCY_LEVEL_QUORUM, v1::CONSISTENCY_LEVEL_ALL}) {
    EXPECT_THAT(ParseConsistencyLevel(ConsistencyLevelName(level)), IsOkAndHolds(level));
  }
  EXPECT_EQ(ConsistencyLevelName(v1::CONSISTENCY_LEVEL_UNSPECIFIED), "default");
}

}  // namespace
}  // namespace latentsearch::cluster

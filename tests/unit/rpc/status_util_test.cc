#include "common/rpc/status_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::rpc {
namespace {

TEST(StatusUtilTest, EveryCanonicalCodeRoundTripsWithItsMessage) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status in(static_cast<absl::StatusCode>(code), "what went wrong");
    grpc::Status g = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "what went wrong");
    EXPECT_EQ(FromGrpcStatus(g), in);
  }
}

TEST(StatusUtilTest, OkMapsToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusUtilTest, NonCanonicalCodeBecomesUnknownAndSaysSo) {
  // A peer may send any number as grpc-status; 20 is within the enum's
  // value range (so no undefined behaviour) but not a canonical code.
  absl::Status s = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "custom"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("20"));
  EXPECT_THAT(s.message(), ::testing::HasSubstr("custom"));
}

TEST(StatusUtilTest, FormatIsOneLineWithCodeName) {
  EXPECT_EQ(FormatGrpcStatus(grpc::Status(grpc::UNAVAILABLE, "peer down")),
            "UNAVAILABLE: peer down");
}

}  // namespace
}  // namespace latentsearch::rpc

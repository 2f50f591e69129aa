// Push targets naming several encoder replicas (push_targets.h): lists and
// dns: names expand to one address per replica, bad targets are refused
// with what is allowed, and a name that does not resolve is UNAVAILABLE
// (retried by PushQueue) naming the target.
#include "services/trainer/push_targets.h"

#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<std::vector<std::string>> TwoPods(const std::string& host) {
  if (host != "encoder") return absl::UnavailableError("'" + host + "' does not resolve");
  return std::vector<std::string>{"10.0.0.7", "fd00::5", "10.0.0.5", "10.0.0.7"};
}

TEST(PushTargetsTest, ListsAndDnsNamesExpandToEveryReplica) {
  EXPECT_THAT(ExpandPushTarget("dns:///encoder:50052", TwoPods),
              IsOkAndHolds(ElementsAre("10.0.0.5:50052", "10.0.0.7:50052", "[fd00::5]:50052")));
  EXPECT_THAT(ExpandPushTarget("dns:encoder:50052", TwoPods),
              IsOkAndHolds(ElementsAre("10.0.0.5:50052", "10.0.0.7:50052", "[fd00::5]:50052")));
  EXPECT_THAT(ExpandPushTarget("ipv4:127.0.0.1:1001,127.0.0.1:1002", TwoPods),
              IsOkAndHolds(ElementsAre("127.0.0.1:1001", "127.0.0.1:1002")));
  EXPECT_THAT(ExpandPushTarget("ipv6:[::1]:1001", TwoPods),
              IsOkAndHolds(ElementsAre("[::1]:1001")));
  // Anything else is one encoder, dialled as gRPC dials it.
  EXPECT_THAT(ExpandPushTarget("encoder:50052", TwoPods),
              IsOkAndHolds(ElementsAre("encoder:50052")));
  EXPECT_THAT(ExpandPushTarget("unix:/run/enc.sock", TwoPods),
              IsOkAndHolds(ElementsAre("unix:/run/enc.sock")));
  EXPECT_TRUE(NamesReplicaSet("dns:///encoder:50052"));
  EXPECT_TRUE(NamesReplicaSet("ipv4:127.0.0.1:1"));
  EXPECT_FALSE(NamesReplicaSet("encoder:50052"));
}

TEST(PushTargetsTest, BadTargetsAreInvalidArgumentsSayingWhatIsAllowed) {
  for (const char* bad : {"", "dns:///encoder", "dns:///:50052", "dns://8.8.8.8/encoder:50052",
                          "dns:///encoder:0", "dns:///encoder:70000", "dns:///encoder:http",
                          "ipv4:127.0.0.1", "ipv4:127.0.0.1:1,", "ipv6:[::1:1"}) {
    SCOPED_TRACE(bad);
    EXPECT_THAT(ValidatePushTarget(bad),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dns:///NAME:PORT")));
    EXPECT_THAT(ExpandPushTarget(bad, TwoPods).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(bad)));
  }
  EXPECT_OK(ValidatePushTarget("dns:///encoder.latentsearch.svc.cluster.local:50052"));
}

TEST(PushTargetsTest, ANameThatDoesNotResolveIsUnavailableNamingTheTarget) {
  EXPECT_THAT(ExpandPushTarget("dns:///nowhere:50052", TwoPods).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("dns:///nowhere:50052"), HasSubstr("does not resolve"))));
  // The system resolver: .invalid never resolves (RFC 6761).
  EXPECT_THAT(ExpandPushTarget("dns:///no-such-encoder.invalid:50052", ResolveHost).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("'no-such-encoder.invalid' does not resolve")));
  absl::StatusOr<std::vector<std::string>> local = ResolveHost("localhost");
  ASSERT_OK(local.status());
  EXPECT_THAT(*local, AnyOf(Contains("127.0.0.1"), Contains("::1")));
}

}  // namespace
}  // namespace latentsearch::trainer

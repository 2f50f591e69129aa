// The search service's encoder client (GrpcEncoderClient) against two
// encoder replicas behind one round-robin target (ipv4:A,B), both
// FakeEncoderServices in-process: a request pinned to a version one replica
// lacks still succeeds (the client retries NOT_FOUND through the channel's
// next pick), a version no replica holds is NOT_FOUND naming the replicas
// that answered so, an unpinned request is not retried, and a replica that
// stops serving is routed around by the channel's UNAVAILABLE retry.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/testing/fake_encoder_service.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/search/grpc_encoder_client.h"

namespace latentsearch::search {
namespace {

using ::latentsearch::testing::FakeEncoderService;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

absl::StatusOr<v1::EncodeResponse> EncodeSync(EncoderClient* client, uint64_t version) {
  v1::EncodeRequest request;
  request.mutable_model()->set_name("fake");
  request.mutable_model()->set_version(version);
  request.add_images()->mutable_raw()->set_height(1);
  request.mutable_images(0)->mutable_raw()->set_width(1);
  request.mutable_images(0)->mutable_raw()->set_channels(1);
  request.mutable_images(0)->mutable_raw()->set_pixels(std::string(1, '\x07'));
  absl::Notification done;
  absl::StatusOr<v1::EncodeResponse> out;
  client->Encode(request, absl::Now() + absl::Seconds(30), nullptr,
                 [&](absl::StatusOr<v1::EncodeResponse> r) {
                   out = std::move(r);
                   done.Notify();
                 });
  done.WaitForNotification();
  return out;
}

class EncoderReplicasClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeEncoderService::Options o;
    o.version = 1;
    old_ = *FakeEncoderService::Start(o);  // Lacks version 2.
    o.version = 2;
    new_ = *FakeEncoderService::Start(o);
    target_ = absl::StrCat("ipv4:", old_->address(), ",", new_->address());
    client_ = *GrpcEncoderClient::Create(target_);
    // Until both replicas have answered, round_robin may know only one of
    // them as ready: unpinned calls (answered by either) until both have.
    while (old_->encode_calls() == 0 || new_->encode_calls() == 0) {
      ASSERT_OK(EncodeSync(client_.get(), 0).status());
    }
  }

  std::unique_ptr<FakeEncoderService> old_;
  std::unique_ptr<FakeEncoderService> new_;
  std::string target_;
  std::unique_ptr<GrpcEncoderClient> client_;
};

TEST_F(EncoderReplicasClientTest, AVersionOneReplicaLacksIsRetriedOnAnother) {
  const int old_before = old_->encode_calls();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<v1::EncodeResponse> r = EncodeSync(client_.get(), 2);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->model().version(), 2u);
  }
  EXPECT_EQ(new_->last_requested_version(), 2u);
  // Round robin sent about half of the first attempts to the replica that
  // lacks the version; each was retried.
  EXPECT_GT(old_->encode_calls(), old_before);
}

TEST_F(EncoderReplicasClientTest, AVersionNoReplicaHoldsIsNotFoundNamingTheReplicas) {
  const int before = old_->encode_calls() + new_->encode_calls();
  absl::StatusOr<v1::EncodeResponse> r = EncodeSync(client_.get(), 3);
  EXPECT_THAT(r.status(), StatusIs(absl::StatusCode::kNotFound,
                                   AllOf(HasSubstr("version not loaded"), HasSubstr("8 attempts"),
                                         HasSubstr(old_->address()), HasSubstr(new_->address()))));
  EXPECT_EQ(old_->encode_calls() + new_->encode_calls() - before, 8);
}

TEST_F(EncoderReplicasClientTest, OneAttemptWhenRetriesAreOff) {
  ASSERT_OK_AND_ASSIGN(auto once,
                       GrpcEncoderClient::Create(target_, {}, GrpcEncoderClientOptions{1}));
  const int before = old_->encode_calls() + new_->encode_calls();
  EXPECT_THAT(EncodeSync(once.get(), 3).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("version not loaded")));
  EXPECT_EQ(old_->encode_calls() + new_->encode_calls() - before, 1);
  EXPECT_THAT(GrpcEncoderClient::Create(target_, {}, GrpcEncoderClientOptions{0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not_found_attempts")));
}

TEST_F(EncoderReplicasClientTest, AReplicaThatStoppedIsRoutedAround) {
  old_->Shutdown();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<v1::EncodeResponse> r = EncodeSync(client_.get(), 0);
    ASSERT_OK(r.status()) << "call " << i;
    EXPECT_EQ(r->model().version(), 2u);
  }
}

}  // namespace
}  // namespace latentsearch::search

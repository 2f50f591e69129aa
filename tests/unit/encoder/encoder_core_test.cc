// EncoderCore with a fake runner and a fake clock: responses filled from
// the batches, a full queue answered UNAVAILABLE at once while a batch is
// running, and a request whose deadline passes while queued answered
// DEADLINE_EXCEEDED without being computed. No sleeps.
#include "services/encoder/encoder_core.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/encoder/clock.h"
#include "tests/unit/encoder/fake_runner.h"
#include "tests/unit/encoder/sync.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using testing::FakeCheckpoint;
using testing::FakeLatent;
using testing::FakeRunnerFactory;
using ::testing::HasSubstr;
using testing::RunnerLog;

// Blocks every Encode of batch size `block_size` until released (warm-up
// passes of other sizes go through).
class Gate {
 public:
  void Arm() { armed_ = true; }
  testing::Notification entered, release;
  bool armed() const { return armed_; }

 private:
  std::atomic<bool> armed_{false};
};

class GatedRunner final : public ModelRunner {
 public:
  GatedRunner(std::unique_ptr<ModelRunner> inner, Gate* gate)
      : inner_(std::move(inner)), gate_(gate) {}
  const model::ModelSpec& spec() const override { return inner_->spec(); }
  std::string device() const override { return inner_->device(); }
  bool has_decoder() const override { return inner_->has_decoder(); }
  absl::Status Encode(absl::Span<const float> images, size_t n,
                      absl::Span<float> latents) override {
    if (gate_->armed() && !gate_->entered.HasBeenNotified()) {
      gate_->entered.Notify();
      gate_->release.WaitForNotification();
    }
    return inner_->Encode(images, n, latents);
  }
  absl::Status Decode(absl::Span<const float> latents, size_t n,
                      absl::Span<float> images) override {
    return inner_->Decode(latents, n, images);
  }

 private:
  std::unique_ptr<ModelRunner> inner_;
  Gate* gate_;
};

v1::EncodeRequest Request(size_t n, uint8_t value) {
  v1::EncodeRequest r;
  for (size_t i = 0; i < n; ++i) {
    v1::RawImage* raw = r.add_images()->mutable_raw();
    raw->set_height(8);
    raw->set_width(8);
    raw->set_channels(1);
    raw->set_pixels(std::string(64, static_cast<char>(value + i)));
  }
  return r;
}

struct Result {
  testing::Notification done;
  absl::Status status = absl::UnknownError("not done");
  v1::EncodeResponse response;
};

class EncoderCoreTest : public ::testing::Test {
 protected:
  void Start(size_t max_batch, size_t max_queue, absl::Duration delay, Clock* clock = nullptr) {
    EncoderCoreOptions o;
    o.data_dir = dir_.path();
    RunnerFactory fake = FakeRunnerFactory(log_);
    Gate* gate = &gate_;
    o.factory = [fake,
                 gate](const model::Checkpoint& c) -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
      auto inner = fake(c);
      if (!inner.ok()) return inner.status();
      return std::unique_ptr<ModelRunner>(std::make_unique<GatedRunner>(*std::move(inner), gate));
    };
    o.max_batch_size = max_batch;
    o.max_queue_size = max_queue;
    o.max_images_per_request = max_queue;
    o.max_queue_delay = delay;
    o.clock = clock;
    ASSERT_OK_AND_ASSIGN(core_, EncoderCore::Create(o));
    ASSERT_OK(core_->registry().Push(FakeCheckpoint("default", 1, "A")));
  }
  void Encode(const v1::EncodeRequest& request, Result* r,
              absl::Time deadline = absl::InfiniteFuture()) {
    core_->Encode(request, deadline, &r->response, [r](const absl::Status& s) {
      r->status = s;
      r->done.Notify();
    });
  }

  TempDir dir_;
  FakeClock clock_;  // Outlives core_ (its batcher reads it).
  std::shared_ptr<RunnerLog> log_ = std::make_shared<RunnerLog>();
  Gate gate_;
  std::unique_ptr<EncoderCore> core_;
};

TEST_F(EncoderCoreTest, EncodeFillsTheResponse) {
  Start(4, 64, absl::ZeroDuration());
  Result r;
  Encode(Request(6, 10), &r);
  r.done.WaitForNotification();
  ASSERT_OK(r.status);
  EXPECT_EQ(r.response.model().name(), "default");
  EXPECT_EQ(r.response.model().version(), 1u);
  EXPECT_EQ(r.response.dim(), 4u);
  ASSERT_EQ(r.response.embeddings_size(), 6);
  for (int i = 0; i < 6; ++i) {
    const std::vector<float> image(64, static_cast<float>(10 + i) * (1.0f / 255.0f));
    for (int j = 0; j < 4; ++j) {
      EXPECT_FLOAT_EQ(r.response.embeddings(i).values(j), FakeLatent(image, j, 'A'));
    }
  }
  EXPECT_GT(r.response.timing().batch_size(), 0.0);
  v1::ListModelsResponse list = core_->ListModels(v1::ListModelsRequest());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).requests_served(), 1u);
  EXPECT_EQ(list.models(0).images_served(), 6u);
}

TEST_F(EncoderCoreTest, RefusalsRunDoneInline) {
  Start(4, 64, absl::ZeroDuration());
  Result r;
  Encode(v1::EncodeRequest(), &r);
  ASSERT_TRUE(r.done.HasBeenNotified());
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no images")));
  Result r2;
  v1::EncodeRequest pinned = Request(1, 0);
  pinned.mutable_model()->set_version(9);
  Encode(pinned, &r2);
  ASSERT_TRUE(r2.done.HasBeenNotified());
  EXPECT_THAT(r2.status, StatusIs(absl::StatusCode::kNotFound, HasSubstr("loaded versions: 1")));
}

TEST_F(EncoderCoreTest, FullQueueIsUnavailableAtOnceWhileABatchRuns) {
  Start(/*max_batch=*/1, /*max_queue=*/4, absl::ZeroDuration());
  gate_.Arm();
  Result running;
  Encode(Request(1, 0), &running);
  gate_.entered.WaitForNotification();  // The worker is inside Encode.
  Result queued;
  Encode(Request(4, 1), &queued);  // Fills the queue (4 images).
  Result refused;
  Encode(Request(1, 2), &refused);
  ASSERT_TRUE(refused.done.HasBeenNotified()) << "refused without waiting";
  EXPECT_THAT(refused.status, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("full")));
  EXPECT_FALSE(queued.done.HasBeenNotified());
  gate_.release.Notify();
  running.done.WaitForNotification();
  queued.done.WaitForNotification();
  EXPECT_OK(running.status);
  EXPECT_OK(queued.status);
  EXPECT_EQ(queued.response.embeddings_size(), 4);
}

TEST_F(EncoderCoreTest, ExpiredDeadlineIsDroppedBeforeCompute) {
  Start(/*max_batch=*/8, /*max_queue=*/64, absl::Seconds(10), &clock_);
  log_->Clear();
  Result r;
  Encode(Request(2, 0), &r, clock_.Now() + absl::Seconds(1));
  clock_.Advance(absl::Seconds(2));
  core_->scheduler().Wake();
  r.done.WaitForNotification();
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("not computed")));
  EXPECT_TRUE(log_->EncodeSizes().empty()) << "nothing was computed";
}

}  // namespace
}  // namespace latentsearch::encoder

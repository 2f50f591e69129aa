// The encoder's --precision=auto (#13) without LibTorch: a fake runner
// that emulates bf16 by rounding its outputs to bf16 (and can be told to
// perturb them further), a fake timer that makes either precision the
// faster; the serving guards refuse a bf16 that changes the embeddings
// too much; the registry decides once per version and keeps the choice
// across a restart; ListModels shows it.
#include "services/encoder/precision_trial.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/encoder/clock.h"
#include "services/encoder/encoder_core.h"
#include "services/encoder/model_registry.h"
#include "tests/unit/encoder/fake_runner.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::TempDir;
using model::Precision;
using testing::FakeCheckpoint;
using ::testing::HasSubstr;

// Rounds to the nearest bf16 (8 significant bits), as bf16 outputs are.
float RoundToBf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
  std::memcpy(&v, &bits, 4);
  return v;
}

struct Bf16Knobs {
  double perturbation = 0;  // bf16 outputs × (1 + this × N(0, 1)), seeded.
  int encodes = 0;          // Encode calls.
};

// latent = a fixed seeded projection of the image; in bf16 rounded to
// bf16 and perturbed by knobs->perturbation.
class Bf16FakeRunner final : public ModelRunner {
 public:
  Bf16FakeRunner(model::ModelSpec spec, Bf16Knobs* knobs) : spec_(std::move(spec)), knobs_(knobs) {
    const size_t per =
        static_cast<size_t>(spec_.input.height) * spec_.input.width * spec_.input.channels;
    std::mt19937_64 rng(11);
    std::normal_distribution<float> g(0, 1);
    w_.resize(per * static_cast<size_t>(spec_.latent_size));
    for (float& v : w_) v = g(rng);
  }
  const model::ModelSpec& spec() const override { return spec_; }
  std::string device() const override { return "cpu"; }
  bool has_decoder() const override { return false; }
  bool supports_bf16() const override { return true; }
  absl::Status SetPrecision(Precision p) override {
    bf16_ = p == Precision::kBFloat16;
    return absl::OkStatus();
  }
  Precision precision() const override {
    return bf16_ ? Precision::kBFloat16 : Precision::kFloat32;
  }
  absl::Status Encode(absl::Span<const float> images, size_t n, absl::Span<float> out) override {
    ++knobs_->encodes;
    const size_t latent = static_cast<size_t>(spec_.latent_size);
    const size_t per = images.size() / n;
    std::mt19937_64 rng(static_cast<uint64_t>(images[0] * 1e6f) + n);
    std::normal_distribution<double> g(0, 1);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < latent; ++j) {
        double s = 0;
        for (size_t k = 0; k < per; ++k) s += images[i * per + k] * w_[j * per + k];
        float v = static_cast<float>(s);
        if (bf16_) v = RoundToBf16(static_cast<float>(v * (1 + knobs_->perturbation * g(rng))));
        out[i * latent + j] = v;
      }
    }
    return absl::OkStatus();
  }
  absl::Status Decode(absl::Span<const float>, size_t, absl::Span<float>) override {
    return absl::FailedPreconditionError("no decoder");
  }

 private:
  const model::ModelSpec spec_;
  Bf16Knobs* const knobs_;
  std::vector<float> w_;
  bool bf16_ = false;
};

RunnerFactory Bf16Factory(Bf16Knobs* knobs) {
  return [knobs](const model::Checkpoint& c) -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
    return std::unique_ptr<ModelRunner>(
        std::make_unique<Bf16FakeRunner>(model::WithDefaults(c.metadata.spec()), knobs));
  };
}

// Runs the trial's work and answers fixed seconds per precision.
struct FakeTimer {
  double fp32 = 1, bf16 = 1;
  int calls = 0;
  model::PrecisionTimer Get() {
    return [this](Precision p, const std::function<absl::Status()>& run) -> absl::StatusOr<double> {
      ++calls;
      absl::Status s = run();
      if (!s.ok()) return s;
      return p == Precision::kBFloat16 ? bf16 : fp32;
    };
  }
};

const image::InputSpec kSpec(8, 8, 1);
const model::ModelSpec kModel{"conv", 16, {8, 8, 1}};

ServingTrialOptions Trial(FakeTimer* timer, Precision requested = Precision::kAuto) {
  ServingTrialOptions o;
  o.requested = requested;
  o.probe_images = 64;
  o.batch_size = 16;
  o.timer = timer->Get();
  o.now = absl::FromUnixSeconds(1800000000);
  return o;
}

TEST(ServingPrecisionTest, FakeTimerFavouringBf16PicksASafeBf16) {
  Bf16Knobs knobs;
  Bf16FakeRunner runner(kModel, &knobs);
  FakeTimer timer{/*fp32=*/4.0, /*bf16=*/2.0};
  ASSERT_OK_AND_ASSIGN(model::PrecisionChoice c,
                       ChooseServingPrecision(runner, kSpec, 16, Trial(&timer)));
  EXPECT_EQ(c.chosen, Precision::kBFloat16);
  EXPECT_EQ(runner.precision(), Precision::kBFloat16);
  EXPECT_TRUE(c.measured);
  EXPECT_TRUE(c.bf16_safe);
  EXPECT_GE(c.min_cosine, model::kMinEmbeddingCosine);
  EXPECT_LT(c.min_cosine, 1.0);  // The outputs really were rounded.
  EXPECT_GE(c.neighbour_overlap, model::kMinNeighbourOverlap);
  EXPECT_DOUBLE_EQ(c.fp32_seconds, 1.0);  // 4 s over 4 batches of 16.
  EXPECT_DOUBLE_EQ(c.bf16_seconds, 0.5);
  EXPECT_EQ(c.trial_units, 4);
  EXPECT_EQ(c.trial_batch, 16);
  EXPECT_EQ(c.decided_at, absl::FromUnixSeconds(1800000000));
  EXPECT_EQ(timer.calls, 2);
  EXPECT_EQ(knobs.encodes, 2 * (1 + 4));  // Warm-up + 4 timed batches each.
}

TEST(ServingPrecisionTest, FakeTimerFavouringFp32PicksFp32) {
  Bf16Knobs knobs;
  Bf16FakeRunner runner(kModel, &knobs);
  FakeTimer timer{/*fp32=*/1.0, /*bf16=*/1.5};
  ASSERT_OK_AND_ASSIGN(model::PrecisionChoice c,
                       ChooseServingPrecision(runner, kSpec, 16, Trial(&timer)));
  EXPECT_EQ(c.chosen, Precision::kFloat32);
  EXPECT_EQ(runner.precision(), Precision::kFloat32);
  EXPECT_TRUE(c.bf16_safe);
  EXPECT_THAT(c.reason, HasSubstr("fp32 kept"));
}

TEST(ServingPrecisionTest, GuardRefusesABf16ThatChangesTheEmbeddingsTooMuch) {
  Bf16Knobs knobs;
  knobs.perturbation = 0.05;  // 5 % noise on every bf16 output.
  Bf16FakeRunner runner(kModel, &knobs);
  FakeTimer timer{/*fp32=*/4.0, /*bf16=*/1.0};
  ASSERT_OK_AND_ASSIGN(model::PrecisionChoice c,
                       ChooseServingPrecision(runner, kSpec, 16, Trial(&timer)));
  EXPECT_EQ(c.chosen, Precision::kFloat32);
  EXPECT_EQ(runner.precision(), Precision::kFloat32);
  EXPECT_FALSE(c.bf16_safe);
  EXPECT_LT(c.min_cosine, model::kMinEmbeddingCosine);
  EXPECT_THAT(c.reason, HasSubstr("refused"));
}

TEST(ServingPrecisionTest, ExplicitPrecisionsRunNoTrial) {
  Bf16Knobs knobs;
  Bf16FakeRunner runner(kModel, &knobs);
  FakeTimer timer;
  ASSERT_OK_AND_ASSIGN(
      model::PrecisionChoice c,
      ChooseServingPrecision(runner, kSpec, 16, Trial(&timer, Precision::kBFloat16)));
  EXPECT_EQ(c.chosen, Precision::kBFloat16);
  EXPECT_EQ(c.requested, Precision::kBFloat16);
  EXPECT_FALSE(c.measured);
  EXPECT_EQ(runner.precision(), Precision::kBFloat16);
  ASSERT_OK_AND_ASSIGN(
      c, ChooseServingPrecision(runner, kSpec, 16, Trial(&timer, Precision::kFloat32)));
  EXPECT_EQ(c.chosen, Precision::kFloat32);
  EXPECT_EQ(runner.precision(), Precision::kFloat32);
  EXPECT_EQ(timer.calls, 0);
  EXPECT_EQ(knobs.encodes, 0);
}

TEST(ServingPrecisionTest, ARunnerWithoutBf16StaysFp32WithoutATrial) {
  auto log = std::make_shared<testing::RunnerLog>();
  ASSERT_OK_AND_ASSIGN(auto runner, testing::FakeRunnerFactory(log)(FakeCheckpoint("m", 1, "A")));
  FakeTimer timer{4.0, 1.0};
  ASSERT_OK_AND_ASSIGN(model::PrecisionChoice c,
                       ChooseServingPrecision(*runner, kSpec, 4, Trial(&timer)));
  EXPECT_EQ(c.chosen, Precision::kFloat32);
  EXPECT_FALSE(c.measured);
  EXPECT_THAT(c.reason, HasSubstr("fp32 only"));
  EXPECT_EQ(timer.calls, 0);
  EXPECT_TRUE(log->EncodeSizes().empty());
}

class PrecisionRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BatchSchedulerOptions so;
    so.num_threads = 0;
    so.max_batch_size = 4;
    so.max_queue_delay = absl::ZeroDuration();
    so.clock = &clock_;
    scheduler_ = *BatchScheduler::Create(so);
  }
  void TearDown() override {
    registry_.reset();
    scheduler_.reset();
  }
  void Open(FakeTimer* timer) {
    registry_.reset();
    ModelRegistryOptions o;
    o.data_dir = dir_.path();
    o.factory = Bf16Factory(&knobs_);
    o.scheduler = scheduler_.get();
    o.warmup_batch_sizes = {1};
    o.probe_images = 64;
    o.trial_batch_size = 16;
    o.precision_timer = timer->Get();
    ASSERT_OK_AND_ASSIGN(registry_, ModelRegistry::Create(o));
  }
  Precision Served(uint64_t version) {
    auto s = registry_->Resolve("m", version);
    EXPECT_OK(s.status());
    return s.ok() ? (*s)->precision().chosen : Precision::kAuto;
  }

  TempDir dir_;
  FakeClock clock_;
  Bf16Knobs knobs_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(PrecisionRegistryTest, DecidesOncePerVersionAndKeepsTheChoiceAcrossARestart) {
  FakeTimer bf16_faster{4.0, 1.0};
  Open(&bf16_faster);
  ASSERT_OK(registry_->Push(FakeCheckpoint("m", 1, "A", "conv", {8, 8, 1}, 16)).status());
  EXPECT_EQ(Served(1), Precision::kBFloat16);
  EXPECT_EQ(bf16_faster.calls, 2);
  const std::string stored = dir_.Join("models/m/v000001.ckpt.precision");
  EXPECT_TRUE(std::filesystem::exists(stored));

  // Restart where fp32 now measures faster: v1 keeps bf16 (its vectors
  // stay in one precision) without a trial; a new version is measured.
  FakeTimer fp32_faster{1.0, 4.0};
  Open(&fp32_faster);
  EXPECT_EQ(Served(1), Precision::kBFloat16);
  EXPECT_EQ(fp32_faster.calls, 0);
  ASSERT_OK(registry_->Push(FakeCheckpoint("m", 2, "B", "conv", {8, 8, 1}, 16)).status());
  EXPECT_EQ(Served(2), Precision::kFloat32);
  EXPECT_EQ(fp32_faster.calls, 2);

  // Eviction removes the stored choice with the checkpoint.
  ASSERT_OK(registry_->Push(FakeCheckpoint("m", 3, "C", "conv", {8, 8, 1}, 16)).status());
  EXPECT_FALSE(std::filesystem::exists(stored));
}

TEST_F(PrecisionRegistryTest, AnUnreadableStoredChoiceIsMeasuredAgainAndRewritten) {
  FakeTimer bf16_faster{4.0, 1.0};
  Open(&bf16_faster);
  ASSERT_OK(registry_->Push(FakeCheckpoint("m", 1, "A", "conv", {8, 8, 1}, 16)).status());
  const std::string stored = dir_.Join("models/m/v000001.ckpt.precision");
  ASSERT_OK(base::WriteFileAtomically(stored, "not a precision choice"));

  // The restart cannot read v1's choice: it measures again (fp32 is now
  // faster), serves the version, and stores the new choice.
  FakeTimer fp32_faster{1.0, 4.0};
  Open(&fp32_faster);
  EXPECT_EQ(Served(1), Precision::kFloat32);
  EXPECT_EQ(fp32_faster.calls, 2);
  ASSERT_OK_AND_ASSIGN(std::string text, base::ReadFile(stored));
  ASSERT_OK_AND_ASSIGN(model::PrecisionChoice choice, model::ParseChoice(text));
  EXPECT_EQ(choice.chosen, Precision::kFloat32);
}

TEST(EncoderCorePrecisionTest, ListModelsShowsTheChoiceAndBothTimings) {
  TempDir dir;
  Bf16Knobs knobs;
  FakeTimer timer{/*fp32=*/3.0, /*bf16=*/1.0};
  EncoderCoreOptions o;
  o.data_dir = dir.path();
  o.factory = Bf16Factory(&knobs);
  o.max_batch_size = 16;
  o.warmup_batch_sizes = {1};
  o.precision_timer = timer.Get();
  ASSERT_OK_AND_ASSIGN(auto core, EncoderCore::Create(o));
  ASSERT_OK(core->registry().Push(FakeCheckpoint("m", 1, "A", "conv", {8, 8, 1}, 16)).status());
  v1::ListModelsResponse list = core->ListModels(v1::ListModelsRequest());
  EXPECT_EQ(list.precision_requested(), "auto");
  ASSERT_EQ(list.models_size(), 1);
  const v1::PrecisionInfo& p = list.models(0).precision();
  EXPECT_EQ(p.requested(), "auto");
  EXPECT_EQ(p.chosen(), "bf16");
  EXPECT_TRUE(p.measured());
  EXPECT_TRUE(p.bf16_safe());
  EXPECT_DOUBLE_EQ(p.fp32_seconds_per_batch(), 3.0 / 4);  // 64 probes in 4 batches of 16.
  EXPECT_DOUBLE_EQ(p.bf16_seconds_per_batch(), 1.0 / 4);
  EXPECT_EQ(p.trial_batch_size(), 16u);
  EXPECT_GE(p.min_cosine(), model::kMinEmbeddingCosine);
  EXPECT_GE(p.neighbour_overlap(), model::kMinNeighbourOverlap);
  EXPECT_THAT(p.reason(), HasSubstr("bf16 chosen"));
  EXPECT_TRUE(p.has_decided_at());
  core->Shutdown();
}

}  // namespace
}  // namespace latentsearch::encoder

// The LibTorch runner: device resolution on this (CPU-only) build, and
// outputs equal to model::Model's for the same checkpoint.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/model/model.h"
#include "common/model/precision.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/encoder/model_runner.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<float> RandomFloats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

model::Checkpoint CheckpointOf(model::Model& m) {
  model::CheckpointMetadata meta;
  meta.architecture = m.spec().architecture;
  meta.latent_size = m.spec().latent_size;
  meta.input_shape = m.spec().input;
  return model::MakeCheckpoint(meta, *m.SerializeWeights());
}

TEST(ResolveDeviceTest, CpuAutoAndCuda) {
  ASSERT_OK_AND_ASSIGN(DeviceChoice cpu, ResolveDevice("cpu"));
  EXPECT_EQ(cpu.device, "cpu");
  EXPECT_FALSE(cpu.use_cuda);
  EXPECT_EQ(cpu.note, "");
  ASSERT_OK_AND_ASSIGN(DeviceChoice automatic, ResolveDevice("auto"));
  if (model::CudaAvailable()) {
    EXPECT_EQ(automatic.device, "cuda:0");
    EXPECT_OK(ResolveDevice("cuda").status());
  } else {
    EXPECT_EQ(automatic.device, "cpu");
    EXPECT_THAT(automatic.note, HasSubstr("CUDA"));
    EXPECT_THAT(ResolveDevice("cuda"),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--device=cuda")));
  }
  EXPECT_THAT(ResolveDevice("tpu"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auto, cpu or cuda")));
}

TEST(TorchRunnerTest, EncodesAndDecodesLikeTheModel) {
  for (const std::string arch : {"conv", "seed"}) {
    model::ModelSpec spec{arch, 10, {32, 32, 3}};
    model::ModelOptions options;
    options.seed = 7;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<model::Model> m, model::Model::Create(spec, options));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ModelRunner> runner,
                         TorchRunnerFactory(DeviceChoice())(CheckpointOf(*m)));
    EXPECT_EQ(runner->device(), "cpu");
    EXPECT_TRUE(runner->has_decoder());
    const size_t n = 5, per = 32 * 32 * 3;
    std::vector<float> images = RandomFloats(n * per, 3);
    ASSERT_OK_AND_ASSIGN(std::vector<float> want, m->Encode(images, n));
    std::vector<float> got(n * 10);
    ASSERT_OK(runner->Encode(images, n, absl::MakeSpan(got)));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << arch << " " << i;
    ASSERT_OK_AND_ASSIGN(std::vector<float> want_images, m->Decode(want, n));
    std::vector<float> got_images(n * per);
    ASSERT_OK(runner->Decode(want, n, absl::MakeSpan(got_images)));
    for (size_t i = 0; i < got_images.size(); i += 97) {
      EXPECT_NEAR(got_images[i], want_images[i], 1e-5) << arch << " " << i;
    }
  }
}

TEST(TorchRunnerTest, AWhitenedModelServesItsEmbeddingAndReconstructsFromTheLatent) {
  model::ModelOptions options;
  options.seed = 9;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<model::Model> m,
                       model::Model::Create({"conv", 8, {16, 16, 3}}, options));
  const size_t n = 6, per = 16 * 16 * 3;
  const std::vector<float> images = RandomFloats(n * per, 4);
  ASSERT_OK_AND_ASSIGN(const std::vector<float> latents, m->Encode(images, n));
  ASSERT_OK(m->FitEmbeddingWhitening(images, n, 0.1, /*mirror=*/true));
  ASSERT_OK_AND_ASSIGN(const std::vector<float> want, m->Encode(images, n));
  ASSERT_OK_AND_ASSIGN(const std::vector<float> want_images, m->Decode(latents, n));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ModelRunner> runner,
                       TorchRunnerFactory(DeviceChoice())(CheckpointOf(*m)));
  std::vector<float> got(n * 8), got2(n * 8), got_latents(n * 8), got_images(n * per);
  ASSERT_OK(runner->Encode(images, n, absl::MakeSpan(got)));
  ASSERT_OK(
      runner->EncodeWithLatents(images, n, absl::MakeSpan(got2), absl::MakeSpan(got_latents)));
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-5) << i;
    ASSERT_NEAR(got2[i], want[i], 1e-5) << i;
    ASSERT_NEAR(got_latents[i], latents[i], 1e-5) << i;
  }
  // Wrongly sized buffers are refused, not written past.
  std::vector<float> short_latents(n * 8 - 1);
  EXPECT_THAT(
      runner->EncodeWithLatents(images, n, absl::MakeSpan(got2), absl::MakeSpan(short_latents)),
      StatusIs(absl::StatusCode::kInternal, HasSubstr("differ in size")));
  EXPECT_THAT(runner->EncodeWithLatents(images, n, absl::MakeSpan(short_latents),
                                        absl::MakeSpan(short_latents)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("output floats")));
  EXPECT_THAT(runner->Encode(images, n + 1, absl::MakeSpan(got)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("output floats")));
  // Reconstructions decode each image's own latent, not the embedding.
  ASSERT_OK(runner->Decode(got_latents, n, absl::MakeSpan(got_images)));
  for (size_t i = 0; i < got_images.size(); i += 31) {
    ASSERT_NEAR(got_images[i], want_images[i], 1e-5) << i;
  }
}

TEST(TorchRunnerTest, WeightsOfAnotherArchitectureAreInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<model::Model> m,
                       model::Model::Create({"conv", 10, {32, 32, 3}}));
  model::Checkpoint c = CheckpointOf(*m);
  c.metadata.architecture = "seed";
  EXPECT_THAT(TorchRunnerFactory(DeviceChoice())(c),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  c.metadata.architecture = "conv";
  c.metadata.latent_size = 12;
  EXPECT_THAT(TorchRunnerFactory(DeviceChoice())(c),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

// bf16 (#13): autocast around the forward pass, for conv and for seed
// (whose transposed convolutions run as Conv2d phases): the embeddings stay
// within the serving guard's cosine of fp32's and the reconstructions come
// back as float32; fp32 again gives the fp32 result exactly.
TEST(TorchRunnerTest, Bf16EmbeddingsStayCloseToFp32) {
  for (const std::string arch : {"conv", "seed"}) {
    model::ModelSpec spec{arch, 10, {32, 32, 3}};
    model::ModelOptions options;
    options.seed = 7;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<model::Model> m, model::Model::Create(spec, options));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ModelRunner> runner,
                         TorchRunnerFactory(DeviceChoice())(CheckpointOf(*m)));
    EXPECT_TRUE(runner->supports_bf16());
    EXPECT_EQ(runner->precision(), model::Precision::kFloat32);
    const size_t n = 8, per = 32 * 32 * 3;
    std::vector<float> images = RandomFloats(n * per, 4);
    std::vector<float> fp32(n * 10), bf16(n * 10), again(n * 10), decoded(per);
    ASSERT_OK(runner->Encode(images, n, absl::MakeSpan(fp32)));
    ASSERT_OK(runner->SetPrecision(model::Precision::kBFloat16));
    EXPECT_EQ(runner->precision(), model::Precision::kBFloat16);
    ASSERT_OK(runner->Encode(images, n, absl::MakeSpan(bf16)));
    ASSERT_OK(runner->Decode(absl::MakeConstSpan(bf16.data(), 10), 1, absl::MakeSpan(decoded)));
    EXPECT_NE(fp32, bf16) << arch;
    model::EmbeddingAgreement a = model::CompareEmbeddings(fp32, bf16, n, 10, 3);
    EXPECT_GE(a.min_cosine, model::kMinEmbeddingCosine) << arch;
    ASSERT_OK(runner->SetPrecision(model::Precision::kFloat32));
    ASSERT_OK(runner->Encode(images, n, absl::MakeSpan(again)));
    EXPECT_EQ(fp32, again) << arch;
    EXPECT_THAT(runner->SetPrecision(model::Precision::kAuto),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not auto")));
  }
}

}  // namespace
}  // namespace latentsearch::encoder

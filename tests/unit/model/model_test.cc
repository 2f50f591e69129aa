// Architectures: parameter counts, shapes, Keras "same" alignment, the equal
// function of every formulation, the registry and weight serialisation.
#include "common/model/model.h"

#include <torch/torch.h>

#include <limits>
#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/model/torch_model.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/model/archive_damage.h"

namespace latentsearch::model {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModelSpec Seed(int channels) { return {"seed", 10, {32, 32, channels}}; }

TEST(ModelTest, SeedParameterCountsMatchTheOriginalForThreeChannels) {
  ASSERT_OK_AND_ASSIGN(ModelSummary s, Describe(Seed(3)));
  EXPECT_EQ(s.encoder_parameters, 3009866);
  EXPECT_EQ(s.decoder_parameters, 399427);
  for (Formulation f : {Formulation::kPlain, Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    ModelOptions o;
    o.formulation = f;
    ASSERT_OK_AND_ASSIGN(auto m, Model::Create(Seed(3), o));
    EXPECT_EQ(m->encoder_parameters(), 3009866) << FormulationName(f);
    EXPECT_EQ(m->decoder_parameters(), 399427) << FormulationName(f);
  }
}

TEST(ModelTest, SeedParameterCountsMatchTheOriginalForOneChannel) {
  ASSERT_OK_AND_ASSIGN(ModelSummary s, Describe(Seed(1)));
  EXPECT_EQ(s.encoder_parameters, 3009290);
  EXPECT_EQ(s.decoder_parameters, 398849);
  ASSERT_OK_AND_ASSIGN(auto m, Model::Create(Seed(1)));
  EXPECT_EQ(m->encoder_parameters(), 3009290);
  EXPECT_EQ(m->decoder_parameters(), 398849);
}

TEST(ModelTest, SeedSummaryShowsKerasLayerShapes) {
  ASSERT_OK_AND_ASSIGN(ModelSummary s, Describe(Seed(3)));
  std::vector<std::string> names;
  for (const LayerInfo& l : s.layers) names.push_back(l.part + "/" + l.name);
  EXPECT_THAT(
      names, ElementsAre("encoder/conv_transpose2d_1", "encoder/max_pooling2d_1",
                         "encoder/conv_transpose2d_2", "encoder/max_pooling2d_2",
                         "encoder/conv_transpose2d_3", "encoder/max_pooling2d_3",
                         "encoder/conv_transpose2d_4", "encoder/max_pooling2d_4", "encoder/flatten",
                         "encoder/dense", "decoder/dense", "decoder/reshape",
                         "decoder/conv_transpose2d_1", "decoder/conv_transpose2d_2",
                         "decoder/conv_transpose2d_3", "decoder/conv_transpose2d_4"));
  EXPECT_THAT(s.layers[0].output_shape, ElementsAre(32, 64, 64));
  EXPECT_EQ(s.layers[0].parameters, 896);
  EXPECT_THAT(s.layers[1].output_shape, ElementsAre(32, 32, 32));
  EXPECT_THAT(s.layers[6].output_shape, ElementsAre(256, 64, 64));
  EXPECT_THAT(s.layers[8].output_shape, ElementsAre(262144));
  EXPECT_EQ(s.layers[9].parameters, 2621450);
  EXPECT_THAT(s.layers[11].output_shape, ElementsAre(256, 2, 2));
  EXPECT_THAT(s.layers[15].output_shape, ElementsAre(3, 32, 32));
  // ≈ 0.8 GFLOP per image forward (ARCHITECTURE.md).
  EXPECT_NEAR(2.0 * (s.encoder_macs + s.decoder_macs) / 1e9, 0.8, 0.05);
  const std::string table = FormatSummary(s);
  EXPECT_THAT(table, HasSubstr("3,009,866"));
  EXPECT_THAT(table, HasSubstr("399,427"));
  EXPECT_THAT(table, HasSubstr("(256, 64, 64)"));
}

TEST(ModelTest, ConvIsAtLeastFiftyTimesCheaperThanSeed) {
  ASSERT_OK_AND_ASSIGN(ModelSummary seed, Describe(Seed(3)));
  ASSERT_OK_AND_ASSIGN(ModelSummary conv, Describe({"conv", 10, {32, 32, 3}}));
  const double ratio = static_cast<double>(seed.encoder_macs + seed.decoder_macs) /
                       static_cast<double>(conv.encoder_macs + conv.decoder_macs);
  EXPECT_GE(ratio, 50.0);
  // Hand count: encoder 16·16·32·3·9 + 8·8·64·32·9 + 4·4·128·64·9 + 2048·10,
  // decoder 10·2048 + 4·4·128·64·9 + 8·8·64·32·9 + 16·16·32·3·9.
  EXPECT_EQ(conv.encoder_macs, 221184 + 1179648 + 1179648 + 20480);
  EXPECT_EQ(conv.decoder_macs, 20480 + 1179648 + 1179648 + 221184);
}

TEST(ModelTest, OutputShapesRoundTripForEveryArchitectureAndShape) {
  struct Case {
    ModelSpec spec;
  };
  for (const ModelSpec& spec :
       {Seed(3), Seed(1), ModelSpec{"conv", 10, {32, 32, 3}}, ModelSpec{"conv", 16, {28, 28, 1}},
        ModelSpec{"conv", 7, {20, 36, 3}}, ModelSpec{"seed", 4, {16, 48, 1}},
        ModelSpec{"resnet", 64, {32, 32, 3}}, ModelSpec{"resnet_small", 16, {28, 28, 1}},
        ModelSpec{"resnet", 8, {20, 36, 3}}}) {
    ASSERT_OK_AND_ASSIGN(auto m, Model::Create(spec));
    const size_t n = 2;
    const auto& in = m->spec().input;
    std::vector<float> x(n * in.height * in.width * in.channels, 0.5f);
    ASSERT_OK_AND_ASSIGN(std::vector<float> z, m->Encode(x, n));
    EXPECT_EQ(z.size(), n * spec.latent_size) << spec.architecture;
    ASSERT_OK_AND_ASSIGN(std::vector<float> y, m->Decode(z, n));
    EXPECT_EQ(y.size(), x.size()) << spec.architecture << " " << FormatInputShape(spec.input);
  }
}

TEST(ModelTest, ResNetCountsMatchAHandCount) {
  // stem 3·32·9 + BN 2·32; block k (cin → cout = 2·cin, stride 2):
  // cin·cout·9 + cout·cout·9 + cin·cout (1×1 shortcut) + 3 BN × 2·cout;
  // dense 256·128 + 128.
  auto block = [](int64_t cin, int64_t cout) {
    return cin * cout * 9 + cout * cout * 9 + cin * cout + 6 * cout;
  };
  const int64_t params =
      3 * 32 * 9 + 64 + block(32, 64) + block(64, 128) + block(128, 256) + 256 * 128 + 128;
  // MACs per image: stem 32·32 positions; block k at (32 / 2^k)² positions.
  auto block_macs = [](int64_t hw, int64_t cin, int64_t cout) {
    return hw * (cin * cout * 9 + cout * cout * 9 + cin * cout);
  };
  const int64_t macs = 32 * 32 * 3 * 32 * 9 + block_macs(256, 32, 64) + block_macs(64, 64, 128) +
                       block_macs(16, 128, 256) + 256 * 128;
  ASSERT_OK_AND_ASSIGN(ModelSummary s, Describe({"resnet", 128, {32, 32, 3}}));
  EXPECT_EQ(s.encoder_parameters, params);
  EXPECT_EQ(s.encoder_parameters, 1240736);
  EXPECT_EQ(s.encoder_macs, macs);
  ASSERT_OK_AND_ASSIGN(auto m, Model::Create({"resnet", 128, {32, 32, 3}}));
  EXPECT_EQ(m->encoder_parameters(), params);
  EXPECT_GT(m->decoder_parameters(), 0);
  EXPECT_THAT(FormatSummary(s), HasSubstr("ResBlock 128→256"));
}

TEST(ModelTest, ResNetEncodesInInferenceModeAndIsDeterministic) {
  // Batch normalisation in inference mode: an image's embedding does not
  // depend on the other images of the batch.
  ASSERT_OK_AND_ASSIGN(
      auto m, Model::Create({"resnet_small", 16, {16, 16, 3}}, {Formulation::kPhaseSplit, 3}));
  std::vector<float> a(16 * 16 * 3), b(16 * 16 * 3);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(i % 7) / 7.0f;
    b[i] = static_cast<float>(i % 5) / 5.0f;
  }
  std::vector<float> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  ASSERT_OK_AND_ASSIGN(auto za, m->Encode(a, 1));
  ASSERT_OK_AND_ASSIGN(auto zab, m->Encode(ab, 2));
  for (size_t i = 0; i < za.size(); ++i) EXPECT_NEAR(za[i], zab[i], 1e-5) << i;
  ASSERT_OK_AND_ASSIGN(
      auto m2, Model::Create({"resnet_small", 16, {16, 16, 3}}, {Formulation::kPhaseSplit, 3}));
  ASSERT_OK_AND_ASSIGN(auto za2, m2->Encode(a, 1));
  EXPECT_EQ(za, za2);
}

TEST(WeightsTest, EncoderOnlyWeightsLoadWithoutADecoder) {
  ASSERT_OK_AND_ASSIGN(
      auto a, Model::Create({"resnet_small", 8, {16, 16, 3}}, {Formulation::kPhaseSplit, 1}));
  ASSERT_OK_AND_ASSIGN(
      auto b, Model::Create({"resnet_small", 8, {16, 16, 3}}, {Formulation::kPhaseSplit, 2}));
  ASSERT_OK_AND_ASSIGN(std::string enc, a->SerializeEncoderWeights());
  ASSERT_OK_AND_ASSIGN(std::string all, a->SerializeWeights());
  EXPECT_LT(enc.size(), all.size());
  ASSERT_OK(b->LoadWeights(enc));
  EXPECT_EQ(b->decoder_parameters(), 0);
  EXPECT_EQ(b->encoder_parameters(), a->encoder_parameters());
  std::vector<float> x(16 * 16 * 3, 0.3f);
  ASSERT_OK_AND_ASSIGN(auto za, a->Encode(x, 1));
  ASSERT_OK_AND_ASSIGN(auto zb, b->Encode(x, 1));
  EXPECT_EQ(za, zb);
  EXPECT_THAT(b->Decode(zb, 1).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no decoder")));
  // Full weights still carry (and need) the decoder.
  ASSERT_OK_AND_ASSIGN(auto c, Model::Create({"resnet_small", 8, {16, 16, 3}}));
  ASSERT_OK(c->LoadWeights(all));
  EXPECT_GT(c->decoder_parameters(), 0);
  ASSERT_OK(c->Decode(za, 1).status());
}

// Images that differ: n × 16 × 16 × 3, pixel values from a small hash.
std::vector<float> VariedImages(size_t n) {
  std::vector<float> x(n * 16 * 16 * 3);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>((i * 2654435761u + (i / 768) * 97) % 251) / 251.0f;
  }
  return x;
}

TEST(WhiteningTest, FitWhiteningOfAKnownCovariance) {
  // Four latents around the mean (1, 1): ±2 on axis 0, ±1 on axis 1.
  // Covariance (n − 1 = 3) diag(8/3, 2/3); the eigenvalues' mean is 5/3,
  // shrinkage 0.3 adds 0.5: gains 1/sqrt(19/6) (axis 0) and 1/sqrt(7/6).
  torch::Tensor z = torch::tensor({3.0, 1.0, -1.0, 1.0, 1.0, 2.0, 1.0, 0.0}).reshape({4, 2});
  auto [mean, p] = FitWhitening(z, 0.3);
  EXPECT_TRUE(torch::allclose(mean, torch::tensor({1.0f, 1.0f})));
  // Eigenvectors are the axes (up to sign and order: eigh sorts ascending).
  EXPECT_NEAR(std::abs(p[0][1].item<float>()), 1 / std::sqrt(19.0 / 6), 1e-5);
  EXPECT_NEAR(std::abs(p[1][0].item<float>()), 1 / std::sqrt(7.0 / 6), 1e-5);
  EXPECT_NEAR(p[0][0].item<float>(), 0, 1e-6);
  EXPECT_NEAR(p[1][1].item<float>(), 0, 1e-6);
  // Identical latents have no variance: the identity.
  auto [m2, p2] = FitWhitening(torch::ones({3, 2}), 0.1);
  EXPECT_TRUE(torch::equal(p2, torch::eye(2)));
}

TEST(WhiteningTest, WhitenedEmbeddingsAreUnitLengthAndTravelWithTheWeights) {
  ASSERT_OK_AND_ASSIGN(
      auto m, Model::Create({"resnet_small", 8, {16, 16, 3}}, {Formulation::kPhaseSplit, 1}));
  const std::vector<float> x = VariedImages(40);
  ASSERT_OK_AND_ASSIGN(const std::vector<float> raw, m->Encode(x, 40));
  ASSERT_OK(m->FitEmbeddingWhitening(x, 40, 0.1, /*mirror=*/false));
  EXPECT_TRUE(m->has_embedding_head());
  ASSERT_OK_AND_ASSIGN(const std::vector<float> e, m->Encode(x, 40));
  ASSERT_EQ(e.size(), raw.size());
  EXPECT_NE(e, raw);
  std::vector<double> mean(8, 0);
  for (size_t i = 0; i < 40; ++i) {
    double norm = 0;
    for (size_t j = 0; j < 8; ++j) {
      norm += e[i * 8 + j] * e[i * 8 + j];
      mean[j] += e[i * 8 + j] / 40;
    }
    EXPECT_NEAR(norm, 1.0, 1e-5) << i;
  }
  // Centred: the fitted images' embeddings average near 0 (before unit
  // scaling exactly 0; after it, small against the unit length).
  for (size_t j = 0; j < 8; ++j) EXPECT_LT(std::abs(mean[j]), 0.35) << j;
  // Decode still takes the encoder's latents.
  ASSERT_OK_AND_ASSIGN(auto decoded, m->Decode(absl::MakeConstSpan(raw.data(), 8), 1));
  EXPECT_EQ(decoded.size(), 16u * 16 * 3);

  // Both weight blobs carry the head; a fresh model loads it and serves
  // the same embeddings.
  for (bool encoder_only : {false, true}) {
    ASSERT_OK_AND_ASSIGN(std::string w,
                         encoder_only ? m->SerializeEncoderWeights() : m->SerializeWeights());
    ASSERT_OK_AND_ASSIGN(auto fresh, Model::Create({"resnet_small", 8, {16, 16, 3}}));
    ASSERT_OK(fresh->LoadWeights(w));
    EXPECT_TRUE(fresh->has_embedding_head());
    ASSERT_OK_AND_ASSIGN(auto e2, fresh->Encode(x, 40));
    for (size_t i = 0; i < e.size(); ++i) ASSERT_NEAR(e2[i], e[i], 1e-5) << i;
    // Weights without a head remove it again.
    ASSERT_OK_AND_ASSIGN(
        auto plain, Model::Create({"resnet_small", 8, {16, 16, 3}}, {Formulation::kPhaseSplit, 1}));
    ASSERT_OK_AND_ASSIGN(std::string pw, encoder_only ? plain->SerializeEncoderWeights()
                                                      : plain->SerializeWeights());
    ASSERT_OK(fresh->LoadWeights(pw));
    EXPECT_FALSE(fresh->has_embedding_head());
    ASSERT_OK_AND_ASSIGN(auto r2, fresh->Encode(x, 40));
    EXPECT_EQ(r2, raw);
  }
  EXPECT_THAT(m->FitEmbeddingWhitening(x, 1, 0.1, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("n >= 2")));
  EXPECT_THAT(m->FitEmbeddingWhitening(x, 40, 0, false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shrinkage")));
}

TEST(WhiteningTest, MirroredEmbeddingsDoNotSeeLeftFromRight) {
  ASSERT_OK_AND_ASSIGN(
      auto m, Model::Create({"resnet_small", 8, {16, 16, 3}}, {Formulation::kPhaseSplit, 4}));
  const std::vector<float> x = VariedImages(20);
  std::vector<float> flipped(x.size());
  for (size_t i = 0; i < 20; ++i)  // NCHW: mirror each row of each channel.
    for (size_t r = 0; r < 3 * 16; ++r)
      for (size_t c = 0; c < 16; ++c)
        flipped[(i * 48 + r) * 16 + c] = x[(i * 48 + r) * 16 + 15 - c];
  ASSERT_OK(m->FitEmbeddingWhitening(x, 20, 0.1, /*mirror=*/false));
  ASSERT_OK_AND_ASSIGN(auto a, m->Encode(x, 20));
  ASSERT_OK_AND_ASSIGN(auto b, m->Encode(flipped, 20));
  EXPECT_NE(a, b) << "an untrained net is not flip-invariant";
  ASSERT_OK(m->FitEmbeddingWhitening(x, 20, 0.1, /*mirror=*/true));
  ASSERT_OK_AND_ASSIGN(a, m->Encode(x, 20));
  ASSERT_OK_AND_ASSIGN(b, m->Encode(flipped, 20));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5) << i;
  // The mirror flag travels with the weights.
  ASSERT_OK_AND_ASSIGN(std::string w, m->SerializeWeights());
  ASSERT_OK_AND_ASSIGN(auto fresh, Model::Create({"resnet_small", 8, {16, 16, 3}}));
  ASSERT_OK(fresh->LoadWeights(w));
  ASSERT_OK_AND_ASSIGN(auto c, fresh->Encode(flipped, 20));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(c[i], a[i], 1e-5) << i;
}

TEST(WhiteningTest, AnIncompleteOrMisshapenHeadIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto m, Model::Create({"resnet_small", 8, {16, 16, 3}}));
  AutoencoderImpl& net = *m->impl().net;
  net.SetEmbeddingHead(torch::zeros({8}), torch::eye(8), false);
  // A mean of the wrong length.
  net.head->mean.set_data(torch::zeros({7}));
  ASSERT_OK_AND_ASSIGN(std::string misshapen, m->SerializeWeights());
  ASSERT_OK_AND_ASSIGN(auto fresh, Model::Create({"resnet_small", 8, {16, 16, 3}}));
  EXPECT_THAT(fresh->LoadWeights(misshapen),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("embedding.mean [8]")));
  EXPECT_FALSE(fresh->has_embedding_head());
  // A head without its mirror flag (an archive edited by hand).
  net.head->mean.set_data(torch::zeros({8}));
  ASSERT_OK_AND_ASSIGN(std::string whole, m->SerializeWeights());
  c10::Dict<c10::IValue, c10::IValue> dict =
      torch::pickle_load(std::vector<char>(whole.begin(), whole.end())).toGenericDict();
  ASSERT_EQ(dict.erase("embedding.mirror"), 1u);
  std::vector<char> edited = torch::pickle_save(c10::IValue(dict));
  EXPECT_THAT(fresh->LoadWeights(std::string(edited.begin(), edited.end())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("incomplete")));
}

TEST(WhiteningTest, NonFiniteLatentsAreRefusedAndInstallNoHead) {
  ASSERT_OK_AND_ASSIGN(auto m, Model::Create({"resnet_small", 8, {16, 16, 3}}));
  std::vector<float> x = VariedImages(4);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THAT(m->FitEmbeddingWhitening(x, 4, 0.1, false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("non-finite")));
  EXPECT_FALSE(m->has_embedding_head());
}

TEST(ModelTest, EncodeRejectsAWronglySizedBatch) {
  ASSERT_OK_AND_ASSIGN(auto m, Model::Create({"conv", 10, {32, 32, 3}}));
  std::vector<float> x(3 * 32 * 32 * 2 - 1);
  EXPECT_THAT(m->Encode(x, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("6143 floats for 2 images")));
  EXPECT_THAT(m->Decode(std::vector<float>(10), 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Decode")));
}

TEST(RegistryTest, ListsNamesAndRefusesUnknownOnesListingTheKnown) {
  EXPECT_THAT(ArchitectureNames(), ElementsAre("conv", "resnet", "resnet_small", "seed"));
  EXPECT_THAT(ValidateSpec({"vgg", 10, {32, 32, 3}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture: unknown architecture 'vgg'; "
                                 "known: conv, resnet, resnet_small, seed")));
  EXPECT_THAT(Model::Create({"vgg", 10, {}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("known")));
  EXPECT_THAT(Describe({"vgg", 10, {}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("known")));
}

// Every name the torch-free spec table lists has a builder here.
TEST(RegistryTest, EveryNamedArchitectureBuilds) {
  for (const std::string& name : ArchitectureNames()) {
    ASSERT_OK_AND_ASSIGN(ModelSummary s, Describe({name, 4, {32, 32, 3}}));
    EXPECT_GT(s.encoder_parameters, 0) << name;
    EXPECT_GT(s.decoder_parameters, 0) << name;
  }
}

// Keras Conv2DTranspose(k3, s2, "same") is the adjoint of a "same" Conv2D,
// which TF pads only at the bottom/right; by hand for x = [[1,2],[3,4]] and
// w = [[1,2,3],[4,5,6],[7,8,9]], out[2i+k][2j+l] += x[i][j]·w[k][l] gives the
// 5×5 full result
//   1  2  5  4  6 / 4  5 14 10 12 / 10 14 36 24 30 / 12 15 34 20 24 /
//   21 24 55 32 36
// of which "same" keeps the top-left 4×4.
TEST(SameConvTransposeTest, MatchesKerasAlignmentComputedByHand) {
  SameConvTranspose2d ct(1, 1);
  {
    torch::NoGradGuard g;
    ct->weight.copy_(torch::arange(1, 10, torch::kFloat).view({1, 1, 3, 3}));
    ct->bias.zero_();
  }
  torch::Tensor x = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({1, 1, 2, 2});
  torch::Tensor want = torch::tensor({1.f, 2.f, 5.f, 4.f,      //
                                      4.f, 5.f, 14.f, 10.f,    //
                                      10.f, 14.f, 36.f, 24.f,  //
                                      12.f, 15.f, 34.f, 20.f})
                           .view({1, 1, 4, 4});
  for (Formulation f : {Formulation::kPlain, Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::equal(ct->Upsample(x, f), want)) << FormulationName(f) << ct->Upsample(x, f);
  }
  // PyTorch's own "same-size" choice (padding 1, output_padding 1) is the
  // bottom-right 4×4 instead: a different alignment.
  torch::NoGradGuard g;
  torch::Tensor torch_style = torch::conv_transpose2d(x, ct->weight, ct->bias, 2,
                                                      /*padding=*/1,
                                                      /*output_padding=*/1);
  EXPECT_EQ(torch_style[0][0][0][0].item<float>(), 5.f);
  EXPECT_FALSE(torch::equal(torch_style, want));
}

// Every formulation computes the same function with the same parameters:
// equal outputs and equal gradients (input, weight, bias), for the plain
// upsampling and for the fused upsample + max-pool.
TEST(SameConvTransposeTest, FormulationsHaveEqualOutputsAndGradients) {
  torch::manual_seed(7);
  SameConvTranspose2d ct(5, 6);
  {
    torch::NoGradGuard g;
    ct->weight.normal_();
    ct->bias.normal_();
  }
  torch::Tensor x0 = torch::randn({2, 5, 6, 7});
  for (bool pool : {false, true}) {
    struct Result {
      torch::Tensor y, gx, gw, gb;
    };
    auto run = [&](Formulation f) {
      torch::Tensor x = x0.clone().requires_grad_(true);
      ct->zero_grad();
      torch::Tensor y = pool ? torch::elu(ct->UpsampleMaxPool(x, f)) : ct->Upsample(x, f);
      torch::Tensor up = torch::cos(torch::arange(y.numel(), torch::kFloat)).view(y.sizes());
      (y * up).sum().backward();
      return Result{y.detach(), x.grad().clone(), ct->weight.grad().clone(),
                    ct->bias.grad().clone()};
    };
    ct->channels_last = false;
    Result ref = run(Formulation::kPlain);
    EXPECT_THAT(ref.y.sizes(), pool ? ElementsAre(2, 6, 6, 7) : ElementsAre(2, 6, 12, 14));
    for (auto [f, cl] :
         {std::pair{Formulation::kPhaseConv, false}, std::pair{Formulation::kPhaseConv, true},
          std::pair{Formulation::kPhaseSplit, false}, std::pair{Formulation::kPhaseSplit, true}}) {
      ct->channels_last = cl;
      Result r = run(f);
      SCOPED_TRACE(std::string(FormulationName(f)) + (pool ? " pooled" : "") +
                   (cl ? " channels-last" : ""));
      EXPECT_TRUE(torch::allclose(r.y, ref.y, 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(r.gx, ref.gx, 1e-4, 1e-4));
      EXPECT_TRUE(torch::allclose(r.gw, ref.gw, 1e-4, 1e-4));
      EXPECT_TRUE(torch::allclose(r.gb, ref.gb, 1e-4, 1e-4));
    }
  }
}

// PhaseMax agrees with max over a phase axis, in both layouts and in bf16,
// and routes each gradient to its phase's maximum only.
TEST(PhaseMaxTest, MatchesMaxOverPhasesWithGradientToTheArgmax) {
  torch::manual_seed(11);
  torch::Tensor y0 = torch::randn({2, 4 * 5, 3, 4});
  torch::Tensor want = std::get<0>(y0.view({2, 4, 5, 3, 4}).max(1));
  for (bool cl : {false, true}) {
    torch::Tensor y =
        (cl ? y0.contiguous(torch::MemoryFormat::ChannelsLast) : y0.clone()).requires_grad_(true);
    torch::Tensor out = PhaseMax(y);
    EXPECT_TRUE(torch::equal(out.contiguous(), want)) << cl;
    EXPECT_EQ(out.is_contiguous(torch::MemoryFormat::ChannelsLast) && !out.is_contiguous(), cl);
    torch::Tensor g = torch::rand_like(out);
    out.backward(g);
    torch::Tensor gy = y.grad().contiguous().view({2, 4, 5, 3, 4});
    // Each output's gradient lands on exactly one phase: the maximum.
    EXPECT_TRUE(torch::allclose(gy.sum(1), g.contiguous()));
    torch::Tensor at_max = (y0.view({2, 4, 5, 3, 4}) == want.unsqueeze(1));
    EXPECT_TRUE(torch::equal(gy.ne(0), at_max & g.contiguous().unsqueeze(1).ne(0)));
  }
  torch::Tensor b = PhaseMax(y0.to(torch::kBFloat16));
  EXPECT_TRUE(torch::equal(b, std::get<0>(y0.to(torch::kBFloat16).view({2, 4, 5, 3, 4}).max(1))));
}

// PhaseMax4 over phases of the sizes kPhaseSplit computes ((h+1) × (w+1),
// (h+1) × w, h × (w+1), h × w), in float32 with many ties and NaNs and a
// channel count that is not a multiple of 16 (the AVX-512 kernels' tail):
// bit for bit the scalar rule (a later phase wins only when strictly
// greater), in both layouts; the gradient goes to the argmax phase, +0
// everywhere else including each phase's extra row and column.
TEST(PhaseMax4Test, MatchesTheScalarRuleBitForBitWithTiesAndNaNs) {
  torch::manual_seed(13);
  const int64_t n = 2, c = 37, h = 5, w = 6;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<torch::Tensor> y0;
  for (int p = 0; p < 4; ++p) {
    torch::Tensor t = torch::randint(-2, 3, {n, c, h + (p < 2), w + (p % 2 == 0)}, torch::kFloat);
    t[0][p][1][2] = nan;  // A NaN in phase 0 stays; in later phases it loses.
    y0.push_back(t);
  }
  torch::Tensor m = y0[0].narrow(2, 0, h).narrow(3, 0, w), arg = torch::zeros_like(m);
  for (int p = 1; p < 4; ++p) {
    torch::Tensor v = y0[p].narrow(2, 0, h).narrow(3, 0, w), gt = v > m;
    arg = torch::where(gt, torch::full_like(arg, p), arg);
    m = torch::where(gt, v, m);
  }
  const torch::Tensor g = torch::rand({n, c, h, w}) + 0.5;
  for (bool cl : {false, true}) {
    SCOPED_TRACE(cl ? "channels-last" : "contiguous");
    std::vector<torch::Tensor> y;
    for (const auto& t : y0) {
      y.push_back(
          (cl ? t.contiguous(torch::MemoryFormat::ChannelsLast) : t.clone()).requires_grad_(true));
    }
    torch::Tensor out = PhaseMax4(y, h, w);
    EXPECT_TRUE(torch::equal(out.isnan(), m.isnan()));
    EXPECT_TRUE(torch::equal(out.nan_to_num(7), m.nan_to_num(7)));
    out.backward(cl ? g.contiguous(torch::MemoryFormat::ChannelsLast) : g);
    for (int p = 0; p < 4; ++p) {
      torch::Tensor want = torch::zeros_like(y0[p]);
      want.narrow(2, 0, h).narrow(3, 0, w).copy_(torch::where(arg == p, g, torch::zeros_like(g)));
      EXPECT_TRUE(torch::equal(y[p].grad(), want)) << "phase " << p;
      EXPECT_FALSE(torch::signbit(y[p].grad()).any().item<bool>()) << "phase " << p;
    }
  }
}

// PhaseShuffle is pixel_shuffle(2) of the top-left h × w of its input, bit
// for bit, in float32, bfloat16 and float64 and from either layout; its
// gradient is pixel_unshuffle of the output's, zero in the extra row and
// column, and comes back channels-last.
TEST(PhaseShuffleTest, EqualsPixelShuffleOfTheRegionBitForBit) {
  torch::manual_seed(17);
  const int64_t n = 2, c = 5, h = 3, w = 4;
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kDouble}) {
    for (bool cl : {false, true}) {
      SCOPED_TRACE(std::string(c10::toString(dtype)) + (cl ? " channels-last" : " contiguous"));
      torch::Tensor y0 = torch::randn({n, 4 * c, h + 1, w + 1}).to(dtype);
      torch::Tensor ya =
          (cl ? y0.contiguous(torch::MemoryFormat::ChannelsLast) : y0.clone()).requires_grad_(true);
      torch::Tensor yb = y0.clone().requires_grad_(true);
      torch::Tensor a = PhaseShuffle(ya, h, w);
      torch::Tensor b = torch::pixel_shuffle(yb.narrow(2, 0, h).narrow(3, 0, w), 2);
      EXPECT_TRUE(IsChannelsLast(a));
      EXPECT_TRUE(torch::equal(a, b));
      torch::Tensor g = torch::randn(b.sizes()).to(dtype);
      a.backward(g);
      b.backward(g);
      EXPECT_TRUE(torch::equal(ya.grad(), yb.grad()));
    }
  }
}

// The whole seed model: the fast formulations, in both memory layouts, load
// the plain one's weights and give the same reconstructions and parameter
// gradients. In float64: the formulations are equal in exact arithmetic,
// but max-pooling is not smooth, and in float32 a near-tie between two
// phases can be decided differently by differently rounded sums, sending
// that position's gradient elsewhere (seen at ~1e-3 relative in layer 4).
TEST(SeedModelTest, FastFormulationsMatchThePlainModel) {
  const ModelSpec spec = WithDefaults({"seed", 10, {16, 32, 3}});
  Autoencoder plain = BuildAutoencoder(spec, Formulation::kPlain);
  plain->to(torch::kDouble);
  torch::manual_seed(3);
  torch::Tensor x = torch::rand({2, 3, 16, 32}, torch::kDouble);
  auto grads = [&](Autoencoder& net) {
    net->zero_grad();
    torch::Tensor y = net->forward(x);
    torch::mse_loss(y, x).backward();
    std::vector<torch::Tensor> g = {y.detach().contiguous()};
    for (const auto& p : net->named_parameters()) g.push_back(p.value().grad().clone());
    return g;
  };
  std::vector<torch::Tensor> ref = grads(plain);
  const std::string weights = SaveWeights(*plain);
  for (Formulation f : {Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    for (bool cl : {false, true}) {
      Autoencoder fast = BuildAutoencoder(spec, f, cl, /*seed=*/99);
      fast->to(torch::kDouble);
      ASSERT_OK(LoadWeightsInto(*fast, weights));
      std::vector<torch::Tensor> got = grads(fast);
      ASSERT_EQ(got.size(), ref.size());
      for (size_t i = 0; i < ref.size(); ++i) {
        const double scale = ref[i].abs().max().item<double>() + 1e-300;
        EXPECT_LT((got[i] - ref[i]).abs().max().item<double>() / scale, 1e-10)
            << FormulationName(f) << (cl ? " channels-last" : "") << " tensor " << i;
      }
    }
  }
}

TEST(WeightsTest, RoundTripAndRefusals) {
  ASSERT_OK_AND_ASSIGN(auto a,
                       Model::Create({"conv", 10, {32, 32, 3}}, {Formulation::kPhaseConv, 1}));
  ASSERT_OK_AND_ASSIGN(auto b,
                       Model::Create({"conv", 10, {32, 32, 3}}, {Formulation::kPhaseConv, 2}));
  std::vector<float> x(32 * 32 * 3, 0.25f);
  ASSERT_OK_AND_ASSIGN(auto za, a->Encode(x, 1));
  ASSERT_OK_AND_ASSIGN(auto zb, b->Encode(x, 1));
  EXPECT_NE(za, zb);  // Different seeds, different initialisation.
  ASSERT_OK_AND_ASSIGN(std::string w, a->SerializeWeights());
  ASSERT_OK(b->LoadWeights(w));
  ASSERT_OK_AND_ASSIGN(auto zb2, b->Encode(x, 1));
  EXPECT_EQ(za, zb2);
  // Same seed, same weights, same bytes.
  ASSERT_OK_AND_ASSIGN(auto a2,
                       Model::Create({"conv", 10, {32, 32, 3}}, {Formulation::kPhaseConv, 1}));
  ASSERT_OK_AND_ASSIGN(std::string w2, a2->SerializeWeights());
  EXPECT_EQ(w, w2);

  ASSERT_OK_AND_ASSIGN(auto other, Model::Create({"conv", 12, {32, 32, 3}}));
  EXPECT_THAT(other->LoadWeights(w),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("shape")));
  ASSERT_OK_AND_ASSIGN(auto seed, Model::Create(Seed(3)));
  EXPECT_THAT(seed->LoadWeights(w),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("architecture")));
  EXPECT_THAT(b->LoadWeights("not an archive"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("archive")));
}

TEST(ThreadsTest, SetsIntraOpThreadsOnTheCallingThread) {
  ThreadSettings t = SetThreads(1, 1);
  EXPECT_EQ(t.intra_op, 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
  ThreadSettings d = SetThreads(0);
  EXPECT_GE(d.intra_op, 1);
  EXPECT_EQ(torch::get_num_threads(), d.intra_op);
}

}  // namespace
}  // namespace latentsearch::model

namespace latentsearch::model {
namespace {

// Loads a model_weights_fuzzer input from tests/fuzz/regressions as the
// fuzzer does: its first byte picks the model
// (tests/fuzz/model/model_weights_fuzzer.cc), the rest are the weights.
absl::Status LoadFuzzInput(const std::string& name) {
  auto bytes =
      base::ReadFile(testing::SourceDir() + "/tests/fuzz/regressions/model_weights_fuzzer/" + name);
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() < 2) return absl::InternalError(name + " is too short for the fuzzer");
  ModelSpec spec;
  const bool conv = static_cast<uint8_t>((*bytes)[0]) % 2 == 0;
  spec.architecture = conv ? "conv" : "seed";
  spec.latent_size = 4;
  spec.input = conv ? InputShape{8, 8, 1} : InputShape{16, 16, 3};
  auto m = Model::Create(spec);
  if (!m.ok()) return absl::InternalError("creating the model: " + m.status().ToString());
  return (*m)->LoadWeights(absl::string_view(*bytes).substr(1));
}

// model_weights_fuzzer found a weights archive on which LibTorch's
// torch::pickle_load read past the end of its buffer (ASan:
// heap-buffer-overflow in mz_zip_reader_init). ReadArchive's bounds-checked
// reader must turn it into an error status. The input's first byte picks
// the model, as in the fuzzer (tests/fuzz/model/model_weights_fuzzer.cc).
TEST(ModelFuzzRegressionTest, ArchiveThatOverranLibTorchsReaderIsAnError) {
  const absl::Status s = LoadFuzzInput("heap-overflow-zip-reader");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.code() == absl::StatusCode::kDataLoss ||
              s.code() == absl::StatusCode::kInvalidArgument)
      << s;
  // One of our checks, not a later LibTorch check, is what refused it (the
  // unchecked reader would have copied past the buffer instead): since the
  // directory check (next test) it is refused before LibTorch sees it; the
  // bounds-checked reader stays as the second line.
  EXPECT_THAT(s.message(), ::testing::AnyOf(::testing::HasSubstr("past its end"),
                                            ::testing::HasSubstr("is not a valid zip")))
      << s;
}

// model_weights_fuzzer found a 750 KB weights archive whose central
// directory declares a 4 GiB record: LibTorch's getRecord allocated the
// declared size before reading (out-of-memory). The directory check must
// refuse it before LibTorch allocates anything.
TEST(ModelFuzzRegressionTest, ArchiveDeclaringAHugeRecordIsRefusedBeforeAllocating) {
  const absl::Status s = LoadFuzzInput("oom-record-size");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), ::testing::HasSubstr("declares 4294967295 bytes")) << s;
}

// model_weights_fuzzer found a weights archive whose pickle declares a
// string of 4 GiB - 2 bytes: LibTorch's unpickler reserved it before
// reading (out-of-memory). The archive checks must refuse it first.
TEST(ModelFuzzRegressionTest, PickleDeclaringAHugeStringIsRefusedBeforeUnpickling) {
  const absl::Status s = LoadFuzzInput("oom-pickle-string-length");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  // The fuzzer also damaged a record's local header, which the directory
  // check notices first; the pickle check alone is tested below with the
  // same 4 GiB string in an otherwise valid archive.
  EXPECT_THAT(s.message(), ::testing::HasSubstr("is not a valid zip")) << s;
}

// Valid archives pass the directory check, and each kind of damage to the
// directory is refused with a message naming it.
TEST(ModelFuzzRegressionTest, DirectoryCheckAcceptsRealArchivesAndNamesDamage) {
  ModelSpec spec;
  spec.architecture = "conv";
  spec.latent_size = 4;
  spec.input = InputShape{8, 8, 1};
  auto m = Model::Create(spec);
  ASSERT_TRUE(m.ok()) << m.status();
  auto weights = (*m)->SerializeWeights();
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_TRUE((*m)->LoadWeights(*weights).ok());

  const std::string& good = *weights;
  const size_t end = good.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(end, std::string::npos);
  const size_t dir = good.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(dir, std::string::npos);
  // The pickle program (data.pkl): where its bytes start (after its local
  // header) and its size (in its central directory record).
  auto u16 = [&](size_t at) {
    return static_cast<size_t>(static_cast<uint8_t>(good[at])) |
           static_cast<size_t>(static_cast<uint8_t>(good[at + 1])) << 8;
  };
  const size_t local = good.rfind(std::string("PK\x03\x04", 4), good.find("/data.pkl"));
  ASSERT_NE(local, std::string::npos);
  const size_t pickle = local + 30 + u16(local + 26) + u16(local + 28);
  ASSERT_EQ(good[pickle], '\x80') << "a LibTorch pickle starts with PROTO";
  const size_t central = good.rfind(std::string("PK\x01\x02", 4), good.find("/data.pkl", dir));
  ASSERT_NE(central, std::string::npos);
  const size_t pickle_size = u16(central + 20) | u16(central + 22) << 16;
  ASSERT_EQ(good[pickle + pickle_size - 1], '.') << "and ends with STOP";
  auto with = [&](size_t pos, absl::string_view patch) {
    return archive_damage::Patched(good, pos, patch);
  };
  const std::vector<archive_damage::Case> cases = archive_damage::CutsAnd(
      good, end,
      {
          // First record's method: deflate.
          {with(dir + 10, std::string("\x08\x00", 2)), "is compressed (method 8)"},
          // First record's uncompressed size: 4 GiB - 1.
          {with(dir + 24, std::string("\xff\xff\xff\xff", 4)), "declares 4294967295 bytes"},
          // First record's local header offset: far past the end.
          {with(dir + 42, std::string("\x00\x00\x00\x7f", 4)), "has no local header"},
          // The central directory's offset in the end record.
          {with(end + 16, std::string("\x00\x00\x00\x7f", 4)), "disagrees"},
          // The pickle's first opcode (PROTO) replaced by a byte that is none.
          {with(pickle, std::string("\xff", 1)), "opcode 0xff is not a pickle opcode"},
          // A memo index far ahead of the stored values (LONG_BINPUT 2^31).
          {with(pickle, std::string("r\x00\x00\x00\x80", 5)), "memo index 2147483648"},
          // The pickle's final STOP removed (the byte before it repeated).
          {with(pickle + pickle_size - 1, "N"), "no STOP"},
          // The first string (BINUNICODE, a parameter name) declaring 4 GiB - 2
          // bytes, as in the fuzzer's out-of-memory input.
          {with(good.find('X', pickle) + 1, std::string("\xfe\xff\xff\xff", 4)),
           "declares 4294967294 bytes"},
      });
  for (const archive_damage::Case& c : cases) {
    absl::Status s = (*m)->LoadWeights(c.bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.message << ": " << s;
    EXPECT_THAT(s.message(), ::testing::HasSubstr(c.message)) << s;
  }
}

// A storage whose declared element count exceeds its record: LibTorch
// believes the pickle's count, so the tensor would lie partly outside the
// buffer read for the record. The pickle is patched to declare the most
// elements its count's width allows for the first storage and its CRC fixed, so only the storage
// check can notice.
TEST(ModelFuzzRegressionTest, StorageLargerThanItsRecordIsRefused) {
  ModelSpec spec{"conv", 4, InputShape{8, 8, 1}};
  auto m = Model::Create(spec);
  ASSERT_TRUE(m.ok()) << m.status();
  auto weights = (*m)->SerializeWeights();
  ASSERT_TRUE(weights.ok()) << weights.status();
  std::string b = *weights;
  // The first storage's persistent id ends with 'cpu' (memoised: BINPUT n)
  // and its element count (BININT1 or BININT2), set here to its maximum.
  const std::string cpu(
      "X\x03\x00\x00\x00"
      "cpuq",
      9);
  const size_t at = b.find(cpu);
  ASSERT_NE(at, std::string::npos);
  const size_t count = at + cpu.size() + 1;
  ASSERT_TRUE(b[count] == 'K' || b[count] == 'M') << static_cast<int>(b[count]);
  b[count + 1] = '\xff';
  if (b[count] == 'M') b[count + 2] = '\xff';
  // The CRC-32 of data.pkl in its central directory record.
  const size_t dir = b.find(std::string("PK\x01\x02", 4));
  const size_t central = b.rfind(std::string("PK\x01\x02", 4), b.find("/data.pkl", dir));
  const size_t local = b.rfind(std::string("PK\x03\x04", 4), b.find("/data.pkl"));
  ASSERT_NE(central, std::string::npos);
  ASSERT_NE(local, std::string::npos);
  auto le = [&](size_t pos, int width) {
    uint32_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[pos + i]);
    return v;
  };
  const size_t start = local + 30 + le(local + 26, 2) + le(local + 28, 2);
  const uint32_t size = le(central + 20, 4);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = start; i < start + size; ++i) {
    crc ^= static_cast<uint8_t>(b[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  crc = ~crc;
  const uint32_t old_crc = le(central + 16, 4);
  for (int k = 0; k < 4; ++k) b[central + 16 + k] = static_cast<char>(crc >> (8 * k));
  // The data descriptor after the bytes carries the CRC too.
  for (size_t pos = start + size; pos + 4 <= b.size() && pos < start + size + 16; ++pos) {
    if (le(pos, 4) == old_crc) {
      for (int k = 0; k < 4; ++k) b[pos + k] = static_cast<char>(crc >> (8 * k));
      break;
    }
  }
  absl::Status s = (*m)->LoadWeights(b);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), ::testing::HasSubstr("but its record holds fewer")) << s;
}

}  // namespace
}  // namespace latentsearch::model

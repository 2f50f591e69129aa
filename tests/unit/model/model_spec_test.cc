// Model specs without LibTorch (common/model/model_spec.h): defaults,
// validation messages, input-shape and formulation parsing, and the
// summary table's formatting.
#include "common/model/model_spec.h"

#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::model {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RegistryTest, ListsNamesAndRefusesUnknownOnesListingTheKnownWithoutTorch) {
  EXPECT_THAT(ArchitectureNames(), ElementsAre("conv", "resnet", "resnet_small", "seed"));
  EXPECT_THAT(ValidateSpec({"vgg", 10, {32, 32, 3}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("architecture: unknown architecture 'vgg'; "
                                 "known: conv, resnet, resnet_small, seed")));
  for (const std::string& name : ArchitectureNames()) {
    EXPECT_OK(ValidateSpec({name, 10, {32, 32, 3}})) << name;
  }
}

TEST(RegistryTest, DefaultsAndFieldNamedErrors) {
  ModelSpec d = WithDefaults({});
  EXPECT_EQ(d.architecture, "conv");
  EXPECT_EQ(d.latent_size, 10);
  EXPECT_EQ(d.input, (InputShape{32, 32, 3}));
  EXPECT_OK(ValidateSpec({}));
  EXPECT_THAT(ValidateSpec({"conv", 5000, {}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("latent_size")));
  EXPECT_THAT(ValidateSpec({"conv", -1, {}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("latent_size")));
  EXPECT_THAT(ValidateSpec({"seed", 10, {28, 28, 1}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("input_shape: 28x28x1 does not suit 'seed'")));
  EXPECT_THAT(ValidateSpec({"conv", 10, {4, 4, 3}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8..1024")));
  EXPECT_THAT(ValidateSpec({"conv", 10, {32, 32, 2}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 or 3")));
}

TEST(RegistryTest, ParsesInputShapes) {
  ASSERT_OK_AND_ASSIGN(InputShape s, ParseInputShape("28x28x1"));
  EXPECT_EQ(s, (InputShape{28, 28, 1}));
  ASSERT_OK_AND_ASSIGN(InputShape t, ParseInputShape("32x16"));
  EXPECT_EQ(t, (InputShape{32, 16, 3}));
  EXPECT_THAT(ParseInputShape("32").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("HxWxC")));
  EXPECT_THAT(ParseInputShape("32xax3").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'a'")));
}

TEST(RegistryTest, FormulationNamesRoundTrip) {
  for (Formulation f : {Formulation::kPlain, Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    ASSERT_OK_AND_ASSIGN(Formulation back, ParseFormulation(FormulationName(f)));
    EXPECT_EQ(back, f);
  }
  EXPECT_THAT(ParseFormulation("fast").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("allowed: plain, phase_conv, phase_split")));
}

// The table groups digits by thousands and pads kinds by columns, not
// bytes ("→" is three bytes wide in UTF-8).
TEST(SummaryTableTest, GroupsThousandsAndAlignsArrows) {
  ModelSummary m;
  m.spec = WithDefaults({});
  m.layers.push_back({"encoder", "conv2d_1", "Conv2d 3→32 k3 s2, ELU", {32, 16, 16}, 896, 221184});
  m.layers.push_back({"decoder", "reshape", "Reshape", {128, 4, 4}, 0, 0});
  m.encoder_parameters = 1234567;
  m.decoder_parameters = 0;
  m.encoder_macs = 221184;
  const std::string table = FormatSummary(m);
  EXPECT_THAT(table, HasSubstr("Model: conv  latent 10  input 32x32x3 (H x W x C)\n"));
  EXPECT_THAT(table, HasSubstr("Encoder: 1,234,567 parameters, 221,184 MACs/image"));
  EXPECT_THAT(table, HasSubstr("(32, 16, 16)"));
  // Both rows put their output shape in the same column.
  const size_t row1 = table.find("encoder  conv2d_1");
  const size_t row2 = table.find("decoder  reshape");
  ASSERT_NE(row1, std::string::npos);
  ASSERT_NE(row2, std::string::npos);
  const size_t col1 = table.find("(32, 16, 16)", row1) - row1;
  const size_t col2 = table.find("(128, 4, 4)", row2) - row2;
  EXPECT_EQ(col1 - 2, col2);  // "→" counts one column but two extra bytes
}

}  // namespace
}  // namespace latentsearch::model

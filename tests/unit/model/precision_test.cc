// The precision modes, the auto decision rule, the guards and the stored
// form of a choice (common/model/precision.h), without LibTorch.
#include "common/model/precision.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::model {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

TEST(PrecisionTest, NamesParseBack) {
  for (Precision p : {Precision::kAuto, Precision::kFloat32, Precision::kBFloat16}) {
    ASSERT_OK_AND_ASSIGN(Precision q, ParsePrecision(PrecisionName(p)));
    EXPECT_EQ(p, q);
  }
  EXPECT_THAT(ParsePrecision("fp16"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("auto, fp32, bf16")));
}

PrecisionChoice Timed(double fp32, double bf16, bool safe) {
  PrecisionChoice c;
  c.measured = true;
  c.fp32_seconds = fp32;
  c.bf16_seconds = bf16;
  c.bf16_safe = safe;
  DecidePrecision(&c, "guard figures");
  return c;
}

TEST(PrecisionTest, DecisionKeepsTheFasterSafeOne) {
  EXPECT_EQ(Timed(2.0, 1.0, true).chosen, Precision::kBFloat16);
  EXPECT_THAT(Timed(2.0, 1.0, true).reason, HasSubstr("2.00x"));
  EXPECT_EQ(Timed(1.0, 2.0, true).chosen, Precision::kFloat32);
  EXPECT_THAT(Timed(1.0, 2.0, true).reason, HasSubstr("fp32 kept"));
  // Faster but unsafe: refused, saying why.
  const PrecisionChoice unsafe = Timed(2.0, 1.0, false);
  EXPECT_EQ(unsafe.chosen, Precision::kFloat32);
  EXPECT_THAT(unsafe.reason, HasSubstr("refused (guard figures)"));
  // Within kMinBf16Speedup: fp32 (the exact one) wins the tie.
  EXPECT_EQ(Timed(1.0, 1.0 / 1.04, true).chosen, Precision::kFloat32);
  EXPECT_EQ(Timed(1.0, 1.0 / 1.06, true).chosen, Precision::kBFloat16);
  EXPECT_EQ(Timed(1.0, 0.0, true).chosen, Precision::kFloat32);  // No timing.
}

TEST(PrecisionTest, FixedChoiceIsAsAsked) {
  EXPECT_EQ(FixedChoice(Precision::kBFloat16).chosen, Precision::kBFloat16);
  EXPECT_EQ(FixedChoice(Precision::kFloat32).chosen, Precision::kFloat32);
  EXPECT_FALSE(FixedChoice(Precision::kFloat32).measured);
}

TEST(PrecisionTest, LossDifferenceIsTheLargestRelativeOne) {
  EXPECT_NEAR(MaxRelativeLossDifference({1.0, 2.0, 4.0}, {1.0, 2.1, 3.9}), 0.05, 1e-12);
  EXPECT_DOUBLE_EQ(MaxRelativeLossDifference({0.5}, {0.5}), 0);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(MaxRelativeLossDifference({1.0}, {1.0, 1.0}), inf);
  EXPECT_EQ(MaxRelativeLossDifference({}, {}), inf);
  EXPECT_EQ(MaxRelativeLossDifference({1.0}, {std::nan("")}), inf);
}

// n × dim clustered embeddings.
std::vector<float> Embeddings(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> out(n * dim);
  for (float& v : out) v = g(rng);
  return out;
}

TEST(PrecisionTest, EmbeddingGuardsSeeCosineAndNeighbourChanges) {
  const size_t n = 64, dim = 16;
  const std::vector<float> a = Embeddings(n, dim, 1);
  EmbeddingAgreement same = CompareEmbeddings(a, a, n, dim);
  EXPECT_DOUBLE_EQ(same.min_cosine, 1.0);
  EXPECT_DOUBLE_EQ(same.neighbour_overlap, 1.0);

  // bf16-sized rounding (2^-8 relative): passes both guards.
  std::vector<float> rounded = a;
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<float> u(-1.0f / 512, 1.0f / 512);  // Half a bf16 ulp.
  for (float& v : rounded) v *= 1 + u(rng);
  EmbeddingAgreement close = CompareEmbeddings(a, rounded, n, dim);
  EXPECT_GE(close.min_cosine, kMinEmbeddingCosine);
  EXPECT_GE(close.neighbour_overlap, kMinNeighbourOverlap);

  // One image's embedding turned: the cosine guard trips.
  std::vector<float> turned = a;
  for (size_t j = 0; j < dim; ++j) turned[5 * dim + j] = -a[5 * dim + j];
  EXPECT_LT(CompareEmbeddings(a, turned, n, dim).min_cosine, 0);

  // Noise at 10 %: every cosine stays high (> 0.98) but neighbour lists
  // change.
  std::vector<float> noisy = a;
  std::normal_distribution<float> g(0, 0.1f);
  for (float& v : noisy) v += g(rng);
  EmbeddingAgreement far = CompareEmbeddings(a, noisy, n, dim);
  EXPECT_LT(far.neighbour_overlap, kMinNeighbourOverlap);
  EXPECT_LT(far.min_cosine, kMinEmbeddingCosine);
  EXPECT_GT(far.min_cosine, 0.9);

  EXPECT_EQ(CompareEmbeddings(a, a, n, dim + 1).min_cosine, 0);  // Wrong sizes.
}

TEST(PrecisionTest, ChoiceSurvivesItsStoredForm) {
  PrecisionChoice c = Timed(0.25, 0.125, true);
  c.requested = Precision::kAuto;
  c.trial_units = 2;
  c.trial_batch = 32;
  c.min_cosine = 0.99987;
  c.neighbour_overlap = 0.984375;
  c.decided_at = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(12);
  ASSERT_OK_AND_ASSIGN(PrecisionChoice back, ParseChoice(SerializeChoice(c)));
  EXPECT_EQ(back.requested, c.requested);
  EXPECT_EQ(back.chosen, Precision::kBFloat16);
  EXPECT_TRUE(back.measured);
  EXPECT_DOUBLE_EQ(back.fp32_seconds, 0.25);
  EXPECT_DOUBLE_EQ(back.bf16_seconds, 0.125);
  EXPECT_EQ(back.trial_units, 2);
  EXPECT_EQ(back.trial_batch, 32);
  EXPECT_TRUE(back.bf16_safe);
  EXPECT_TRUE(std::isnan(back.loss_difference));
  EXPECT_DOUBLE_EQ(back.min_cosine, 0.99987);
  EXPECT_DOUBLE_EQ(back.neighbour_overlap, 0.984375);
  EXPECT_EQ(back.decided_at, c.decided_at);
  EXPECT_EQ(back.reason, c.reason);
  ASSERT_OK_AND_ASSIGN(PrecisionChoice fixed,
                       ParseChoice(SerializeChoice(FixedChoice(Precision::kFloat32))));
  EXPECT_EQ(fixed.decided_at, absl::InfinitePast());
  EXPECT_THAT(ParseChoice("format=1\nchosen=auto\n"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("requested")));
  EXPECT_THAT(ParseChoice("garbage"), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("format")));
}

TEST(PrecisionTest, DescriptionNamesBothTimings) {
  PrecisionChoice c = Timed(0.5, 0.25, true);
  c.trial_batch = 32;
  const std::string d = DescribeChoice(c, "step");
  EXPECT_THAT(d, HasSubstr("bf16"));
  EXPECT_THAT(d, HasSubstr("fp32 0.5000 s, bf16 0.2500 s per step of 32"));
}

}  // namespace
}  // namespace latentsearch::model

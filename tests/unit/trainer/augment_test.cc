// Augmentations on uint8 HWC buffers: shapes and value ranges, identity
// cases, hand-computed pixels, determinism under a seed.
#include "services/trainer/augment.h"

#include <cstdint>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::trainer {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::vector<uint8_t> RandomImage(int h, int w, int c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> img(static_cast<size_t>(h) * w * c);
  for (uint8_t& v : img) v = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

TEST(AugmentTest, IdentityOptionsReturnTheImage) {
  for (int c : {1, 3}) {
    const auto src = RandomImage(12, 9, c, 1);
    std::vector<uint8_t> dst(src.size(), 7);
    AugmentView(src.data(), 12, 9, c, AugmentOptions::Identity(), 42, dst.data());
    EXPECT_EQ(dst, src) << c;
  }
}

TEST(AugmentTest, WholeImageCropAtTheSameSizeCopies) {
  const auto src = RandomImage(8, 8, 3, 2);
  std::vector<uint8_t> dst(src.size());
  ResizedCrop(src.data(), 8, 8, 3, {0, 0, 8, 8}, dst.data(), 8, 8);
  EXPECT_EQ(dst, src);
}

TEST(AugmentTest, CropUpsamplesBilinearlyAsComputedByHand) {
  // 1 × 2 grey image [0, 100]; its left pixel's box (width 1) resized to
  // 1 × 2 samples x = 0 + (j + 0.5)·0.5 − 0.5 = −0.25 → 0 (clamped), 0.25.
  const std::vector<uint8_t> src = {0, 100};
  std::vector<uint8_t> dst(2);
  ResizedCrop(src.data(), 1, 2, 1, {0, 0, 1, 1}, dst.data(), 1, 2);
  EXPECT_THAT(dst, ElementsAre(0, 25));
  // The whole row down to one pixel samples x = 0.5: (0 + 100) / 2.
  std::vector<uint8_t> one(1);
  ResizedCrop(src.data(), 1, 2, 1, {0, 0, 1, 2}, one.data(), 1, 1);
  EXPECT_THAT(one, ElementsAre(50));
}

TEST(AugmentTest, FlipReversesEachRowKeepingChannelsTogether) {
  std::vector<uint8_t> img = {1, 2, 3, 4,  5,  6,    // row 0: two RGB pixels
                              7, 8, 9, 10, 11, 12};  // row 1
  FlipHorizontal(img.data(), 2, 2, 3);
  EXPECT_THAT(img, ElementsAre(4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9));
  std::vector<uint8_t> odd = {1, 2, 3};
  FlipHorizontal(odd.data(), 1, 3, 1);
  EXPECT_THAT(odd, ElementsAre(3, 2, 1));
}

TEST(AugmentTest, ColourOperationsComputedByHand) {
  std::vector<uint8_t> b = {0, 100, 200, 255};
  AdjustBrightness(b.data(), b.size(), 1.5);
  EXPECT_THAT(b, ElementsAre(0, 150, 255, 255));  // Clamped at 255.

  // Grey 2-pixel image, mean 100: contrast 0.5 → 100 + (x − 100)/2.
  std::vector<uint8_t> k = {50, 150};
  AdjustContrast(k.data(), 1, 2, 1, 0.5);
  EXPECT_THAT(k, ElementsAre(75, 125));
  AdjustContrast(k.data(), 1, 2, 1, 1.0);  // Factor 1: unchanged.
  EXPECT_THAT(k, ElementsAre(75, 125));

  // Luma of (100, 50, 200) = 29.9 + 29.35 + 22.8 = 82.05.
  std::vector<uint8_t> px = {100, 50, 200};
  ToGrayscale(px.data(), 1, 1, 3);
  EXPECT_THAT(px, ElementsAre(82, 82, 82));
  // Saturation 0 is grey-scale; 2 pushes away from grey: 82.05 + 2·(x − 82.05).
  std::vector<uint8_t> s0 = {100, 50, 200}, s2 = {100, 50, 200};
  AdjustSaturation(s0.data(), 1, 1, 3, 0.0);
  EXPECT_THAT(s0, ElementsAre(82, 82, 82));
  AdjustSaturation(s2.data(), 1, 1, 3, 2.0);
  EXPECT_THAT(s2, ElementsAre(118, 18, 255));
  // One channel: saturation and grey-scale are no-ops.
  std::vector<uint8_t> g = {10, 20};
  AdjustSaturation(g.data(), 1, 2, 1, 0.0);
  ToGrayscale(g.data(), 1, 2, 1);
  EXPECT_THAT(g, ElementsAre(10, 20));
}

TEST(AugmentTest, CropBoxesStayInsideTheImageWithinScaleAndRatio) {
  std::mt19937_64 rng(3);
  const AugmentOptions o = AugmentOptions::SimClr();
  for (int i = 0; i < 2000; ++i) {
    const CropBox b = SampleCropBox(32, 32, o, rng);
    ASSERT_GE(b.y, 0);
    ASSERT_GE(b.x, 0);
    ASSERT_LE(b.y + b.height, 32);
    ASSERT_LE(b.x + b.width, 32);
    const double area = b.height * b.width / (32.0 * 32.0);
    // Integer rounding of the sides moves the area and ratio a little.
    EXPECT_GE(area, 0.2 * 0.8);
    EXPECT_LE(area, 1.0);
    EXPECT_GE(b.width / b.height, 0.75 * 0.8);
    EXPECT_LE(b.width / b.height, 4.0 / 3.0 * 1.25);
  }
}

TEST(AugmentTest, ViewsAreDeterministicUnderASeedAndDifferAcrossSeeds) {
  for (int c : {1, 3}) {
    const auto src = RandomImage(32, 32, c, 4);
    std::vector<uint8_t> a(src.size()), b(src.size()), other(src.size());
    AugmentView(src.data(), 32, 32, c, AugmentOptions::SimClr(), 99, a.data());
    AugmentView(src.data(), 32, 32, c, AugmentOptions::SimClr(), 99, b.data());
    AugmentView(src.data(), 32, 32, c, AugmentOptions::SimClr(), 100, other.data());
    EXPECT_EQ(a, b);
    EXPECT_NE(a, other);
    EXPECT_EQ(a.size(), src.size());  // Same shape as the input.
  }
}

TEST(AugmentTest, ViewsKeepStatisticsOfAPlausibleRange) {
  // Over many views of a mid-grey-ish image, pixels use most of the range
  // (jitter) and some views are grey (grey-scale with p = 0.2).
  const auto src = RandomImage(16, 16, 3, 5);
  std::vector<uint8_t> v(src.size());
  int grey_views = 0;
  std::set<int> values;
  for (uint64_t s = 0; s < 200; ++s) {
    AugmentView(src.data(), 16, 16, 3, AugmentOptions::SimClr(), s, v.data());
    bool grey = true;
    for (size_t p = 0; p < v.size(); p += 3) {
      grey = grey && v[p] == v[p + 1] && v[p + 1] == v[p + 2];
    }
    grey_views += grey ? 1 : 0;
    values.insert(v.begin(), v.end());
  }
  EXPECT_GT(grey_views, 20);  // ~40 expected.
  EXPECT_LT(grey_views, 70);
  EXPECT_GT(values.size(), 200u);
}

TEST(AugmentTest, CorruptAddsNoiseAndBlanksPatchesDeterministically) {
  const std::vector<uint8_t> src(8 * 8, 128);
  CorruptOptions masks_only;
  masks_only.noise_std = 0;
  masks_only.patch_size = 4;
  masks_only.mask_probability = 0.5;
  std::vector<uint8_t> a(src.size()), b(src.size());
  int masked_patches = 0;
  for (uint64_t s = 0; s < 50; ++s) {
    Corrupt(src.data(), 8, 8, 1, masks_only, s, a.data());
    // Each 4 × 4 patch is either all 0 or untouched.
    for (int py = 0; py < 8; py += 4) {
      for (int px = 0; px < 8; px += 4) {
        std::set<int> vals;
        for (int y = py; y < py + 4; ++y) {
          for (int x = px; x < px + 4; ++x) vals.insert(a[y * 8 + x]);
        }
        ASSERT_EQ(vals.size(), 1u);
        masked_patches += *vals.begin() == 0 ? 1 : 0;
      }
    }
  }
  EXPECT_GT(masked_patches, 60);  // 200 patches, p = 0.5.
  EXPECT_LT(masked_patches, 140);

  CorruptOptions noise_only;
  noise_only.mask_probability = 0;
  noise_only.noise_std = 20;
  Corrupt(src.data(), 8, 8, 1, noise_only, 7, a.data());
  Corrupt(src.data(), 8, 8, 1, noise_only, 7, b.data());
  EXPECT_EQ(a, b);
  double sum = 0, sq = 0;
  for (uint8_t v : a) {
    sum += v - 128.0;
    sq += (v - 128.0) * (v - 128.0);
  }
  const double sd = std::sqrt(sq / a.size());
  EXPECT_GT(sd, 10);
  EXPECT_LT(sd, 30);
  CorruptOptions none;
  none.noise_std = 0;
  none.mask_probability = 0;
  Corrupt(src.data(), 8, 8, 1, none, 7, a.data());
  EXPECT_EQ(a, src);
}

TEST(AugmentTest, ToFloatChwScalesAndTransposes) {
  const std::vector<uint8_t> hwc = {0, 255, 51, 102, 204, 0};  // 1 × 2 × 3.
  std::vector<float> chw(6);
  ToFloatChw(hwc.data(), 1, 2, 3, chw.data());
  const float k = 1.0f / 255.0f;
  EXPECT_THAT(chw, ElementsAre(0.0f, 102 * k, 255 * k, 204 * k, 51 * k, 0.0f));
}

}  // namespace
}  // namespace latentsearch::trainer

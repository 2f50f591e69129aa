// image → model input: what the encoder feeds a model equals what the
// trainer fed it (data::NormalizeRange after the image-folder reader's
// channel conversion and resize), and ToPixels / PixelMse invert it.
#include "common/image/preprocess.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_images.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::image {
namespace {

using ::latentsearch::testing::RandomImage;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

// What the trainer computes for `img` (data::NormalizeRange, NCHW).
std::vector<float> TrainerInput(const Image& img) {
  data::Dataset d;
  d.source = "test";
  d.height = img.height;
  d.width = img.width;
  d.channels = img.channels;
  d.pixels = img.pixels;
  d.labels = {data::kNoLabel};
  std::vector<float> out(img.num_bytes());
  EXPECT_OK(data::NormalizeRange(d, 0, 1, data::Layout::kNCHW, absl::MakeSpan(out)));
  return out;
}

std::vector<float> Convert(const Image& img, const InputSpec& spec) {
  std::vector<float> out(spec.floats_per_image());
  EXPECT_OK(ToModelInput(img, spec, absl::MakeSpan(out)));
  return out;
}

TEST(ImagePreprocessTest, ModelShapeMatchesTrainingBitForBit) {
  for (int c : {1, 3}) {
    Image img = RandomImage(32, 32, c, 7 + c);
    const InputSpec spec{32, 32, c};
    std::vector<float> want = TrainerInput(img);
    std::vector<float> normalized(spec.floats_per_image());
    Normalize(img.pixels, spec, absl::MakeSpan(normalized));
    EXPECT_EQ(normalized, want) << "channels " << c;
    EXPECT_EQ(Convert(img, spec), want) << "channels " << c;
  }
}

TEST(ImagePreprocessTest, GreyBecomesRgbAndRgbBecomesGrey) {
  Image grey = RandomImage(16, 16, 1, 11);
  std::vector<float> rgb = Convert(grey, InputSpec{16, 16, 3});
  const size_t plane = 16 * 16;
  for (size_t p = 0; p < plane; ++p) {
    EXPECT_EQ(rgb[p], grey.pixels[p] * (1.0f / 255.0f));
    EXPECT_EQ(rgb[plane + p], rgb[p]);
    EXPECT_EQ(rgb[2 * plane + p], rgb[p]);
  }
  Image colour = RandomImage(16, 16, 3, 12);
  ASSERT_OK_AND_ASSIGN(Image luma, ToChannels(colour, 1));
  EXPECT_EQ(Convert(colour, InputSpec{16, 16, 1}), TrainerInput(luma));
}

TEST(ImagePreprocessTest, ResizesLikeTheImageFolderReader) {
  Image big = RandomImage(64, 48, 3, 5);
  ASSERT_OK_AND_ASSIGN(Image small, Resize(big, 32, 32));
  EXPECT_EQ(Convert(big, InputSpec{32, 32, 3}), TrainerInput(small));
}

TEST(ImagePreprocessTest, MeanAndStdPerChannel) {
  InputSpec spec{2, 2, 3};
  spec.normalization.scale = 1.0f / 255.0f;
  spec.normalization.mean = {0.5f, 0.25f, 0.0f};
  spec.normalization.std = {0.5f, 2.0f, 1.0f};
  ASSERT_OK(ValidateNormalization(spec.normalization, 3));
  Image img = RandomImage(2, 2, 3, 9);
  std::vector<float> got = Convert(img, spec);
  for (int c = 0; c < 3; ++c) {
    for (int p = 0; p < 4; ++p) {
      const float x = img.pixels[p * 3 + c] * spec.normalization.scale;
      EXPECT_FLOAT_EQ(got[c * 4 + p], (x - spec.normalization.mean[c]) / spec.normalization.std[c]);
    }
  }
}

TEST(ImagePreprocessTest, BadNormalizationIsRefused) {
  Normalization n;
  n.std = {1.0f, 0.0f, 1.0f};
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("std[1]")));
  n.std = {1.0f};
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one per channel")));
  n.std.clear();
  n.mean = {0.0f, 0.5f};
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mean has 2 entries")));
  n.mean.clear();
  n.scale = 0;
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale")));
}

TEST(ImagePreprocessTest, MalformedImageOrWrongOutputSizeIsRefused) {
  std::vector<float> out(4 * 4 * 3);
  Image two_channels = RandomImage(4, 4, 2, 3);
  EXPECT_THAT(ToModelInput(two_channels, InputSpec{4, 4, 3}, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  Image empty;
  EXPECT_THAT(ToModelInput(empty, InputSpec{4, 4, 3}, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  std::vector<float> short_out(5);
  EXPECT_THAT(ToModelInput(RandomImage(4, 4, 3, 4), InputSpec{4, 4, 3}, absl::MakeSpan(short_out)),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("output holds 5 floats")));
}

TEST(ImagePreprocessTest, ToPixelsInvertsNormalisationAndClamps) {
  for (bool affine : {false, true}) {
    InputSpec spec{4, 5, 3};
    if (affine) {
      spec.normalization.mean = {0.1f, 0.2f, 0.3f};
      spec.normalization.std = {0.7f, 0.8f, 0.9f};
    }
    Image img = RandomImage(4, 5, 3, 21);
    std::vector<float> x = Convert(img, spec);
    std::vector<uint8_t> back(spec.floats_per_image());
    ToPixels(x, spec, absl::MakeSpan(back));
    EXPECT_EQ(back, img.pixels) << (affine ? "mean/std" : "scale only");
    EXPECT_FLOAT_EQ(PixelMse(x, x, spec), 0.0f);
  }
  const InputSpec spec{1, 2, 1};
  const std::vector<float> out = {-0.5f, 1.5f};
  std::vector<uint8_t> clamped(2);
  ToPixels(out, spec, absl::MakeSpan(clamped));
  EXPECT_EQ(clamped, (std::vector<uint8_t>{0, 255}));
  const std::vector<float> in = {0.0f, 1.0f};
  EXPECT_NEAR(PixelMse(in, out, spec), 0.25, 1e-6);
}

}  // namespace
}  // namespace latentsearch::image

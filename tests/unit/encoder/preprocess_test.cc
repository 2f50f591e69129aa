// Preprocessing: every accepted form of an image becomes the floats the
// trainer would have fed the model; every bad image is INVALID_ARGUMENT
// naming its index.
#include "services/encoder/preprocess.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/data/dataset.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

image::Image RandomImage(int h, int w, int c, uint64_t seed) {
  image::Image img(h, w, c);
  std::mt19937_64 rng(seed);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

v1::Image Raw(const image::Image& img) {
  v1::Image out;
  out.mutable_raw()->set_height(img.height);
  out.mutable_raw()->set_width(img.width);
  out.mutable_raw()->set_channels(img.channels);
  out.mutable_raw()->set_pixels(std::string(img.pixels.begin(), img.pixels.end()));
  return out;
}

v1::Image Encoded(const std::string& bytes) {
  v1::Image out;
  out.set_encoded(bytes);
  return out;
}

InputSpec Spec(int h, int w, int c) {
  InputSpec s;
  s.shape = {h, w, c};
  return s;
}

// What the trainer computes for `img` (data::NormalizeRange, NCHW).
std::vector<float> TrainerInput(const image::Image& img) {
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

std::vector<float> Convert(const v1::Image& image, const InputSpec& spec) {
  std::vector<float> out(spec.floats_per_image());
  EXPECT_OK(PreprocessImage(image, 0, spec, absl::MakeSpan(out)));
  return out;
}

TEST(PreprocessTest, RawImageOfTheModelShapeMatchesTrainingBitForBit) {
  for (int c : {1, 3}) {
    image::Image img = RandomImage(32, 32, c, 7 + c);
    std::vector<float> got = Convert(Raw(img), Spec(32, 32, c));
    std::vector<float> want = TrainerInput(img);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "float " << i << ", channels " << c;
    }
  }
}

TEST(PreprocessTest, PngEqualsRaw) {
  image::Image img = RandomImage(28, 28, 3, 3);
  ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
  EXPECT_EQ(Convert(Encoded(png), Spec(28, 28, 3)), Convert(Raw(img), Spec(28, 28, 3)));
}

TEST(PreprocessTest, JpegIsDecoded) {
  image::Image img(32, 32, 3);
  for (auto& p : img.pixels) p = 200;
  ASSERT_OK_AND_ASSIGN(std::string jpeg, image::EncodeJpeg(img, 95));
  std::vector<float> got = Convert(Encoded(jpeg), Spec(32, 32, 3));
  for (float v : got) EXPECT_NEAR(v, 200.0f / 255.0f, 3.0f / 255.0f);
}

TEST(PreprocessTest, GreyBecomesRgbAndRgbBecomesGrey) {
  image::Image grey = RandomImage(16, 16, 1, 11);
  std::vector<float> rgb = Convert(Raw(grey), Spec(16, 16, 3));
  const size_t plane = 16 * 16;
  for (size_t p = 0; p < plane; ++p) {
    EXPECT_EQ(rgb[p], grey.pixels[p] * (1.0f / 255.0f));
    EXPECT_EQ(rgb[plane + p], rgb[p]);
    EXPECT_EQ(rgb[2 * plane + p], rgb[p]);
  }
  image::Image colour = RandomImage(16, 16, 3, 12);
  ASSERT_OK_AND_ASSIGN(image::Image luma, image::ToChannels(colour, 1));
  EXPECT_EQ(Convert(Raw(colour), Spec(16, 16, 1)), TrainerInput(luma));
}

TEST(PreprocessTest, ResizesLikeTheImageFolderReader) {
  image::Image big = RandomImage(64, 48, 3, 5);
  ASSERT_OK_AND_ASSIGN(image::Image small, image::Resize(big, 32, 32));
  EXPECT_EQ(Convert(Raw(big), Spec(32, 32, 3)), TrainerInput(small));
}

TEST(PreprocessTest, MeanAndStdPerChannel) {
  InputSpec spec = Spec(2, 2, 3);
  spec.normalization.scale = 1.0f / 255.0f;
  spec.normalization.mean = {0.5f, 0.25f, 0.0f};
  spec.normalization.std = {0.5f, 2.0f, 1.0f};
  ASSERT_OK(ValidateNormalization(spec.normalization, 3));
  image::Image img = RandomImage(2, 2, 3, 9);
  std::vector<float> got = Convert(Raw(img), spec);
  for (int c = 0; c < 3; ++c) {
    for (int p = 0; p < 4; ++p) {
      const float x = img.pixels[p * 3 + c] * spec.normalization.scale;
      EXPECT_FLOAT_EQ(got[c * 4 + p], (x - spec.normalization.mean[c]) / spec.normalization.std[c]);
    }
  }
}

TEST(PreprocessTest, BadNormalizationIsRefused) {
  model::Normalization n;
  n.std = {1.0f, 0.0f, 1.0f};
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("std[1]")));
  n.std = {1.0f};
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("one per channel")));
  n.std.clear();
  n.scale = 0;
  EXPECT_THAT(ValidateNormalization(n, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale")));
}

// Every bad case names the offending image's index.
TEST(PreprocessTest, BadImagesNameTheirIndex) {
  const InputSpec spec = Spec(8, 8, 3);
  const v1::Image good = Raw(RandomImage(8, 8, 3, 1));
  struct Case {
    std::string name;
    v1::Image bad;
    std::string message;
  };
  std::vector<Case> cases;
  {
    v1::Image b = Raw(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_channels(4);
    b.mutable_raw()->set_pixels(std::string(8 * 8 * 4, '\0'));
    cases.push_back({"four channels", b, "4 channels; expected 1 (grey) or 3 (RGB)"});
  }
  {
    v1::Image b = Raw(RandomImage(8, 8, 2, 2));
    cases.push_back({"two channels", b, "2 channels"});
  }
  {
    v1::Image b = Raw(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_height(0);
    cases.push_back({"zero height", b, "0x8"});
  }
  {
    v1::Image b = Raw(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_width(0);
    cases.push_back({"zero width", b, "8x0"});
  }
  {
    v1::Image b = Raw(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->mutable_pixels()->pop_back();
    cases.push_back({"short pixels", b, "191 bytes; height x width x channels = 8x8x3 = 192"});
  }
  {
    v1::Image b = Raw(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->mutable_pixels()->append("x");
    cases.push_back({"long pixels", b, "193 bytes"});
  }
  {
    v1::Image b = Raw(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_height(5000);
    cases.push_back({"too tall", b, "at most 4096"});
  }
  cases.push_back({"undecodable", Encoded("definitely not a PNG"), "image 2: "});
  {
    image::Image img = RandomImage(8, 8, 3, 4);
    std::string png = *image::EncodePng(img);
    png.resize(png.size() / 2);
    cases.push_back({"truncated png", Encoded(png), "image 2: "});
  }
  cases.push_back({"empty bytes", Encoded(""), "empty"});
  cases.push_back({"no source", v1::Image(), "set either"});
  for (const Case& c : cases) {
    google::protobuf::RepeatedPtrField<v1::Image> images;
    *images.Add() = good;
    *images.Add() = good;
    *images.Add() = c.bad;
    *images.Add() = good;
    EXPECT_THAT(PreprocessImages(images, spec, 16),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("image 2: "), HasSubstr(c.message))))
        << c.name;
  }
}

TEST(PreprocessTest, ImageCountLimits) {
  const InputSpec spec = Spec(4, 4, 1);
  google::protobuf::RepeatedPtrField<v1::Image> images;
  EXPECT_THAT(PreprocessImages(images, spec, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no images")));
  for (int i = 0; i < 4; ++i) *images.Add() = Raw(RandomImage(4, 4, 1, i));
  EXPECT_THAT(PreprocessImages(images, spec, 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("4 images"), HasSubstr("at most 3"))));
  ASSERT_OK_AND_ASSIGN(std::vector<float> all, PreprocessImages(images, spec, 4));
  ASSERT_EQ(all.size(), 4u * 16u);
  std::vector<float> third(all.begin() + 2 * 16, all.begin() + 3 * 16);
  EXPECT_EQ(third, Convert(images[2], spec)) << "images are laid out in request order";
}

TEST(PreprocessTest, ToRawImageInvertsNormalisationAndClamps) {
  for (bool affine : {false, true}) {
    InputSpec spec = Spec(4, 5, 3);
    if (affine) {
      spec.normalization.mean = {0.1f, 0.2f, 0.3f};
      spec.normalization.std = {0.7f, 0.8f, 0.9f};
    }
    image::Image img = RandomImage(4, 5, 3, 21);
    std::vector<float> x = Convert(Raw(img), spec);
    v1::RawImage back;
    ToRawImage(x, spec, &back);
    EXPECT_EQ(back.height(), 4u);
    EXPECT_EQ(back.width(), 5u);
    EXPECT_EQ(back.channels(), 3u);
    EXPECT_EQ(back.pixels(), std::string(img.pixels.begin(), img.pixels.end()));
    EXPECT_FLOAT_EQ(PixelMse(x, x, spec), 0.0f);
  }
  InputSpec spec = Spec(1, 2, 1);
  std::vector<float> out = {-0.5f, 1.5f};
  v1::RawImage clamped;
  ToRawImage(out, spec, &clamped);
  EXPECT_EQ(static_cast<uint8_t>(clamped.pixels()[0]), 0);
  EXPECT_EQ(static_cast<uint8_t>(clamped.pixels()[1]), 255);
  std::vector<float> in = {0.0f, 1.0f};
  EXPECT_NEAR(PixelMse(in, out, spec), 0.25, 1e-6);
}

}  // namespace
}  // namespace latentsearch::encoder

// The encoder's request preprocessing: every accepted form of a v1::Image
// becomes the floats the trainer would have fed the model; every bad image
// is INVALID_ARGUMENT naming its index. The image-level conversion itself
// is tested in tests/unit/image/preprocess_test.cc.
#include "services/encoder/preprocess.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/image/image.h"
#include "common/image/preprocess.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_images.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::RandomImage;
using ::latentsearch::testing::RawImageProto;
using ::latentsearch::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

v1::Image Encoded(const std::string& bytes) {
  v1::Image out;
  out.set_encoded(bytes);
  return out;
}

std::vector<float> Convert(const v1::Image& image, const image::InputSpec& spec) {
  std::vector<float> out(spec.floats_per_image());
  EXPECT_OK(PreprocessImage(image, 0, spec, absl::MakeSpan(out)));
  return out;
}

// A raw image already in the model's shape is normalised straight from the
// request's bytes, to exactly image::Normalize's floats (which are the
// trainer's: tests/unit/image/preprocess_test.cc).
TEST(PreprocessTest, RawImageOfTheModelShapeIsNormalisedInPlace) {
  for (int c : {1, 3}) {
    image::Image img = RandomImage(32, 32, c, 7 + c);
    const image::InputSpec spec{32, 32, c};
    std::vector<float> want(spec.floats_per_image());
    image::Normalize(img.pixels, spec, absl::MakeSpan(want));
    EXPECT_EQ(Convert(RawImageProto(img), spec), want) << "channels " << c;
  }
}

TEST(PreprocessTest, PngEqualsRaw) {
  image::Image img = RandomImage(28, 28, 3, 3);
  ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
  const image::InputSpec spec{28, 28, 3};
  EXPECT_EQ(Convert(Encoded(png), spec), Convert(RawImageProto(img), spec));
}

TEST(PreprocessTest, JpegIsDecoded) {
  image::Image img(32, 32, 3);
  for (auto& p : img.pixels) p = 200;
  ASSERT_OK_AND_ASSIGN(std::string jpeg, image::EncodeJpeg(img, 95));
  std::vector<float> got = Convert(Encoded(jpeg), image::InputSpec{32, 32, 3});
  for (float v : got) EXPECT_NEAR(v, 200.0f / 255.0f, 3.0f / 255.0f);
}

// Raw images of another shape and decoded images go through
// image::ToModelInput (whose conversions tests/unit/image/preprocess_test.cc
// checks against the trainer).
TEST(PreprocessTest, OtherShapesAreConvertedAsImageToModelInput) {
  for (const image::InputSpec& spec : {image::InputSpec{16, 16, 1}, image::InputSpec{8, 12, 3}}) {
    image::Image img = RandomImage(16, 20, 3, 13);
    std::vector<float> want(spec.floats_per_image());
    ASSERT_OK(image::ToModelInput(img, spec, absl::MakeSpan(want)));
    EXPECT_EQ(Convert(RawImageProto(img), spec), want);
    ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
    EXPECT_EQ(Convert(Encoded(png), spec), want);
  }
}

TEST(PreprocessTest, InputSpecOfCheckpointMetadata) {
  model::CheckpointMetadata m;
  m.input_shape = {28, 24, 1};
  m.normalization.scale = 0.5f;
  m.normalization.mean = {0.25f};
  m.normalization.std = {2.0f};
  const image::InputSpec spec = InputSpecOf(m);
  EXPECT_EQ(spec.height, 28);
  EXPECT_EQ(spec.width, 24);
  EXPECT_EQ(spec.channels, 1);
  EXPECT_EQ(spec.normalization.scale, 0.5f);
  EXPECT_EQ(spec.normalization.mean, std::vector<float>{0.25f});
  EXPECT_EQ(spec.normalization.std, std::vector<float>{2.0f});
}

// Every bad case names the offending image's index.
TEST(PreprocessTest, BadImagesNameTheirIndex) {
  const image::InputSpec spec{8, 8, 3};
  const v1::Image good = RawImageProto(RandomImage(8, 8, 3, 1));
  struct Case {
    std::string name;
    v1::Image bad;
    std::string message;
  };
  std::vector<Case> cases;
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_channels(4);
    b.mutable_raw()->set_pixels(std::string(8 * 8 * 4, '\0'));
    cases.push_back({"four channels", b, "4 channels; expected 1 (grey) or 3 (RGB)"});
  }
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 2, 2));
    cases.push_back({"two channels", b, "2 channels"});
  }
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_height(0);
    cases.push_back({"zero height", b, "0x8"});
  }
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->set_width(0);
    cases.push_back({"zero width", b, "8x0"});
  }
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->mutable_pixels()->pop_back();
    cases.push_back({"short pixels", b, "191 bytes; height x width x channels = 8x8x3 = 192"});
  }
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 3, 2));
    b.mutable_raw()->mutable_pixels()->append("x");
    cases.push_back({"long pixels", b, "193 bytes"});
  }
  {
    v1::Image b = RawImageProto(RandomImage(8, 8, 3, 2));
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
  const image::InputSpec spec{4, 4, 1};
  google::protobuf::RepeatedPtrField<v1::Image> images;
  EXPECT_THAT(PreprocessImages(images, spec, 3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no images")));
  for (int i = 0; i < 4; ++i) *images.Add() = RawImageProto(RandomImage(4, 4, 1, i));
  EXPECT_THAT(PreprocessImages(images, spec, 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("4 images"), HasSubstr("at most 3"))));
  ASSERT_OK_AND_ASSIGN(std::vector<float> all, PreprocessImages(images, spec, 4));
  ASSERT_EQ(all.size(), 4u * 16u);
  std::vector<float> third(all.begin() + 2 * 16, all.begin() + 3 * 16);
  EXPECT_EQ(third, Convert(images[2], spec)) << "images are laid out in request order";
}

TEST(PreprocessTest, ToRawImageInvertsPreprocessing) {
  image::InputSpec spec{4, 5, 3};
  spec.normalization.mean = {0.1f, 0.2f, 0.3f};
  spec.normalization.std = {0.7f, 0.8f, 0.9f};
  image::Image img = RandomImage(4, 5, 3, 21);
  std::vector<float> x = Convert(RawImageProto(img), spec);
  v1::RawImage back;
  ToRawImage(x, spec, &back);
  EXPECT_EQ(back.height(), 4u);
  EXPECT_EQ(back.width(), 5u);
  EXPECT_EQ(back.channels(), 3u);
  EXPECT_EQ(back.pixels(), std::string(img.pixels.begin(), img.pixels.end()));
}

}  // namespace
}  // namespace latentsearch::encoder

#include "common/image/image.h"

#include <cstdint>
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Declarations only; Debian's libstb.so holds the implementation.
#include <stb_image_write.h>

namespace latentsearch::image {
namespace {

using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

// A deterministic colour gradient of the given shape.
Image Gradient(int h, int w, int c) {
  Image img(h, w, c);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int k = 0; k < c; ++k) {
        img.at(y, x)[k] = static_cast<uint8_t>((y * 7 + x * 13 + k * 85) & 0xff);
      }
    }
  }
  return img;
}

Image Flat(int h, int w, int c, uint8_t v) {
  Image img(h, w, c);
  for (uint8_t& p : img.pixels) p = v;
  return img;
}

void Append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
}

TEST(ImageTest, ConstructorZeroFills) {
  Image img(2, 3, 3);
  EXPECT_EQ(img.num_bytes(), 18u);
  EXPECT_EQ(img.pixels, std::vector<uint8_t>(18, 0));
  EXPECT_OK(CheckImage(img));
}

TEST(ImageTest, CheckImageNamesTheProblem) {
  Image img(2, 2, 3);
  img.pixels.pop_back();
  EXPECT_THAT(CheckImage(img),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("11 bytes; expected 12")));
  Image two(2, 2, 2);
  EXPECT_THAT(CheckImage(two),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 channels")));
  EXPECT_THAT(CheckImage(Image()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

TEST(ImageTest, PngRoundTripRgbAndGrey) {
  for (int c : {1, 3}) {
    Image img = Gradient(17, 23, c);
    ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(img));
    EXPECT_EQ(png.substr(1, 3), "PNG");
    ASSERT_OK_AND_ASSIGN(Image back, Decode(png));
    EXPECT_EQ(back.height, 17);
    EXPECT_EQ(back.width, 23);
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.pixels, img.pixels) << "channels " << c;
  }
}

TEST(ImageTest, DecodeConvertsChannelsOnRequest) {
  Image rgb = Gradient(4, 5, 3);
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(rgb));
  ASSERT_OK_AND_ASSIGN(Image grey, Decode(png, 1));
  EXPECT_EQ(grey.channels, 1);
  EXPECT_EQ(grey.pixels.size(), 20u);
  ASSERT_OK_AND_ASSIGN(Image rgb_again, Decode(png, 3));
  EXPECT_EQ(rgb_again.pixels, rgb.pixels);
  EXPECT_THAT(Decode(png, 2),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 channels")));
}

TEST(ImageTest, DecodeDropsAlpha) {
  // RGBA written by stb directly; Decode keeps RGB.
  std::vector<uint8_t> rgba = {10, 20, 30, 255, 40, 50, 60, 0};
  std::string png;
  ASSERT_NE(stbi_write_png_to_func(&Append, &png, 2, 1, 4, rgba.data(), 8), 0);
  ASSERT_OK_AND_ASSIGN(Image img, Decode(png));
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
}

TEST(ImageTest, JpegDecode) {
  // A flat colour survives JPEG almost exactly; a gradient approximately.
  Image img(16, 24, 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = 200;
    img.pixels[i + 1] = 100;
    img.pixels[i + 2] = 50;
  }
  std::string jpg;
  ASSERT_NE(stbi_write_jpg_to_func(&Append, &jpg, img.width, img.height, 3, img.pixels.data(), 95),
            0);
  ASSERT_EQ(static_cast<uint8_t>(jpg[0]), 0xFF);
  ASSERT_OK_AND_ASSIGN(Image back, Decode(jpg));
  EXPECT_EQ(back.height, 16);
  EXPECT_EQ(back.width, 24);
  EXPECT_EQ(back.channels, 3);
  for (size_t i = 0; i < back.pixels.size(); ++i) {
    EXPECT_NEAR(back.pixels[i], img.pixels[i], 3) << "byte " << i;
  }
  // Our own encoder, grey: stb writes colour JPEGs, so ask for 1 channel.
  ASSERT_OK_AND_ASSIGN(std::string grey_jpg, EncodeJpeg(Flat(8, 8, 1, 90), 90));
  ASSERT_OK_AND_ASSIGN(Image grey, Decode(grey_jpg, 1));
  EXPECT_EQ(grey.channels, 1);
  for (uint8_t v : grey.pixels) EXPECT_NEAR(v, 90, 2);
  EXPECT_THAT(EncodeJpeg(img, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("quality 0")));
}

TEST(ImageTest, DecodeErrorsSayWhatWasWrong) {
  EXPECT_THAT(Decode(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty (0 bytes)")));
  EXPECT_THAT(Decode("GIF89a......"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a PNG or JPEG file")));
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(Gradient(8, 8, 3)));
  EXPECT_THAT(Decode(png.substr(0, 40)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undecodable PNG image")));
  // Width field of the IHDR chunk (bytes 16..19) set to 0.
  std::string zero = png;
  zero[16] = zero[17] = zero[18] = zero[19] = 0;
  EXPECT_THAT(Decode(zero), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("zero size")));
  // JPEG with a zero height in its SOF0 segment.
  ASSERT_OK_AND_ASSIGN(std::string jpg, EncodeJpeg(Gradient(8, 8, 3), 90));
  const size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 5] = jpg[sof + 6] = 0;
  EXPECT_THAT(Decode(jpg),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("zero size (0x8")));
  EXPECT_THAT(Decode("\xFF\xD8\xFF garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("undecodable JPEG image")));
}

TEST(ImageTest, DecodeRejectsHugeDimensions) {
  ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(Gradient(8, 8, 3)));
  // 65535 × 65535 in the IHDR chunk: over kMaxDecodePixels.
  std::string huge = png;
  huge[16] = huge[20] = 0;
  huge[17] = huge[21] = 0;
  huge[18] = huge[19] = huge[22] = huge[23] = '\xff';
  absl::Status s = Decode(huge).status();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(s) || absl::IsInvalidArgument(s)) << s;
}

TEST(ImageTest, EncodeRejectsMalformedImage) {
  Image img(2, 2, 3);
  img.pixels.resize(3);
  EXPECT_THAT(EncodePng(img),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 12")));
}

TEST(ImageTest, ResizeKeepsFlatColourAndShape) {
  Image img(10, 20, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = 77;
  ASSERT_OK_AND_ASSIGN(Image small, Resize(img, 5, 7));
  EXPECT_EQ(small.height, 5);
  EXPECT_EQ(small.width, 7);
  EXPECT_EQ(small.channels, 3);
  for (uint8_t v : small.pixels) EXPECT_EQ(v, 77);
  ASSERT_OK_AND_ASSIGN(Image big, Resize(Gradient(4, 4, 1), 32, 40));
  EXPECT_EQ(big.num_bytes(), 32u * 40u);
  ASSERT_OK_AND_ASSIGN(Image same, Resize(img, 10, 20));
  EXPECT_EQ(same.pixels, img.pixels);
  EXPECT_THAT(Resize(img, 0, 5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot resize to 0x5")));
}

TEST(ImageTest, ResizeAveragesWhenShrinking) {
  // Left half black, right half white; halving the width keeps the split.
  Image img(2, 8, 1);
  for (int y = 0; y < 2; ++y) {
    for (int x = 4; x < 8; ++x) img.at(y, x)[0] = 255;
  }
  ASSERT_OK_AND_ASSIGN(Image half, Resize(img, 2, 4));
  EXPECT_LT(half.at(0, 0)[0], 20);
  EXPECT_GT(half.at(0, 3)[0], 235);
}

TEST(ImageTest, GreyToRgbAndBack) {
  Image grey = Gradient(3, 4, 1);
  ASSERT_OK_AND_ASSIGN(Image rgb, ToChannels(grey, 3));
  ASSERT_EQ(rgb.channels, 3);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 4; ++x) {
      const uint8_t g = grey.at(y, x)[0];
      EXPECT_EQ(rgb.at(y, x)[0], g);
      EXPECT_EQ(rgb.at(y, x)[1], g);
      EXPECT_EQ(rgb.at(y, x)[2], g);
    }
  }
  ASSERT_OK_AND_ASSIGN(Image back, ToChannels(rgb, 1));
  EXPECT_EQ(back.pixels, grey.pixels);
}

TEST(ImageTest, RgbToGreyUsesLumaWeights) {
  Image rgb(1, 4, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  ASSERT_OK_AND_ASSIGN(Image grey, ToChannels(rgb, 1));
  // round(0.299 × 255) = 76, round(0.587 × 255) = 150, round(0.114 × 255) = 29.
  EXPECT_EQ(grey.pixels, (std::vector<uint8_t>{76, 150, 29, 255}));
  EXPECT_THAT(ToChannels(rgb, 4),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("4 channels")));
}

}  // namespace
}  // namespace latentsearch::image

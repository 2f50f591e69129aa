#include "common/data/dataset.h"

#include <set>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::data {
namespace {

using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Three 2×2 RGB images: image i holds bytes 12 i .. 12 i + 11.
Dataset Small() {
  Dataset d;
  d.source = "small";
  d.height = 2;
  d.width = 2;
  d.channels = 3;
  for (int i = 0; i < 36; ++i) d.pixels.push_back(static_cast<uint8_t>(i * 7));
  d.labels = {0, 1, 1};
  d.class_names = {"a", "b"};
  return d;
}

TEST(SplitTest, ParseAndName) {
  EXPECT_THAT(ParseSplit("train"), IsOkAndHolds(Split::kTrain));
  EXPECT_THAT(ParseSplit("test"), IsOkAndHolds(Split::kTest));
  EXPECT_THAT(ParseSplit("all"), IsOkAndHolds(Split::kAll));
  EXPECT_EQ(SplitName(Split::kTest), "test");
  EXPECT_THAT(ParseSplit("val"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("expected train, test or all")));
}

TEST(DatasetTest, ValidAndAccessors) {
  Dataset d = Small();
  EXPECT_OK(Validate(d));
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.image_bytes(), 12u);
  ASSERT_OK_AND_ASSIGN(image::Image img, d.GetImage(1));
  EXPECT_EQ(img.height, 2);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.pixels[0], 12 * 7);
  EXPECT_THAT(d.GetImage(3),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("image 3 requested")));
  EXPECT_THAT(ClassCounts(d), ElementsAre(1, 2));
}

TEST(DatasetTest, ValidateNamesEachViolation) {
  Dataset d = Small();
  d.pixels.pop_back();
  EXPECT_THAT(Validate(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("'small': pixels hold 35 bytes; "
                                              "expected N x H x W x C = 3 x 2 x 2 x 3")));
  d = Small();
  d.labels.push_back(0);
  EXPECT_THAT(Validate(d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pixels hold 36 bytes")));
  d = Small();
  d.labels[2] = 2;
  EXPECT_THAT(Validate(d), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("image 2 has label 2; expected a "
                                              "class in [0, 2)")));
  d = Small();
  d.labels[0] = -1;
  EXPECT_THAT(Validate(d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("image 0 has label -1")));
  d = Small();
  d.channels = 2;
  EXPECT_THAT(Validate(d), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 channels")));
  d = Small();
  d.height = 0;
  EXPECT_THAT(Validate(d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("image size 0x2")));
  d = Small();
  d.uris = {"x"};
  EXPECT_THAT(Validate(d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 uris for 3 images")));
  Dataset empty = Small();
  empty.pixels.clear();
  empty.labels.clear();
  EXPECT_THAT(Validate(empty),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("holds no images")));
}

TEST(DatasetTest, UnlabelledDataSets) {
  Dataset d = Small();
  d.class_names.clear();
  EXPECT_THAT(Validate(d),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no classes; expected -1")));
  d.labels = {kNoLabel, kNoLabel, kNoLabel};
  EXPECT_OK(Validate(d));
  EXPECT_TRUE(ClassCounts(d).empty());
}

TEST(NormalizeTest, ScalesToUnitRangeInBothLayouts) {
  Dataset d = Small();
  ASSERT_OK_AND_ASSIGN(std::vector<float> nhwc, Normalize(d));
  ASSERT_EQ(nhwc.size(), 36u);
  for (size_t i = 0; i < nhwc.size(); ++i) {
    EXPECT_FLOAT_EQ(nhwc[i], d.pixels[i] / 255.0f);
    EXPECT_GE(nhwc[i], 0.0f);
    EXPECT_LE(nhwc[i], 1.0f);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<float> nchw, Normalize(d, Layout::kNCHW));
  // Image 1, channel 2, pixel (1, 0): NHWC byte 12 + (1·2 + 0)·3 + 2.
  EXPECT_FLOAT_EQ(nchw[12 + 2 * 4 + 1 * 2 + 0], d.pixels[12 + 2 * 3 + 2] / 255.0f);
}

TEST(NormalizeTest, ExtremesMapToZeroAndOne) {
  Dataset d = Small();
  d.pixels[0] = 0;
  d.pixels[1] = 255;
  ASSERT_OK_AND_ASSIGN(std::vector<float> v, Normalize(d));
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[1], 1.0f);
}

TEST(NormalizeTest, ValidatesFirst) {
  Dataset d = Small();
  d.labels[1] = 7;
  EXPECT_THAT(Normalize(d), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("label 7")));
  Dataset empty;
  EXPECT_THAT(Normalize(empty),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no images")));
}

TEST(NormalizeTest, RangeChecksShapes) {
  Dataset d = Small();
  std::vector<float> out(24);
  EXPECT_OK(NormalizeRange(d, 1, 2, Layout::kNHWC, absl::MakeSpan(out)));
  EXPECT_FLOAT_EQ(out[0], d.pixels[12] / 255.0f);
  EXPECT_THAT(NormalizeRange(d, 2, 2, Layout::kNHWC, absl::MakeSpan(out)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("images [2, 4) requested")));
  EXPECT_THAT(
      NormalizeRange(d, 0, 1, Layout::kNHWC, absl::MakeSpan(out)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("output holds 24 floats; expected")));
}

TEST(SampleIndicesTest, DistinctSeededAndBounded) {
  std::vector<size_t> a = SampleIndices(1000, 64, 1);
  std::vector<size_t> b = SampleIndices(1000, 64, 1);
  std::vector<size_t> c = SampleIndices(1000, 64, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 64u);
  for (size_t i : a) EXPECT_LT(i, 1000u);
  EXPECT_EQ(SampleIndices(5, 64, 1).size(), 5u);
  EXPECT_TRUE(SampleIndices(0, 3, 1).empty());
}

}  // namespace
}  // namespace latentsearch::data

// The image resolver (common/items/image_resolver.h) on a two-image IDX
// test split and PNG files written to a temporary directory: images by
// uri, a split loaded once, class names, and the refusals (an index past
// the split, a file uri where a data set is wanted, a file that does not
// decode, a uri in neither form).
#include "common/items/image_resolver.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/data/load.h"
#include "common/image/image.h"
#include "common/items/item_uri.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::items {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

void PutBigEndian(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>(v >> shift));
}

// An IDX test split of two 2x3 images (image i, pixel p = 10 i + p),
// labels 3 and 7, in `dir`.
void WriteIdxTestSplit(const std::string& dir) {
  std::string images, labels;
  PutBigEndian(&images, data::kIdxImagesMagic);
  for (uint32_t v : {2u, 2u, 3u}) PutBigEndian(&images, v);
  for (int i = 0; i < 2; ++i) {
    for (int p = 0; p < 6; ++p) images.push_back(static_cast<char>(10 * i + p));
  }
  PutBigEndian(&labels, data::kIdxLabelsMagic);
  PutBigEndian(&labels, 2);
  labels += std::string("\x03\x07", 2);
  ASSERT_OK(base::WriteFileAtomically(base::JoinPath(dir, "t10k-images-idx3-ubyte"), images));
  ASSERT_OK(base::WriteFileAtomically(base::JoinPath(dir, "t10k-labels-idx1-ubyte"), labels));
}

class ItemsImageResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteIdxTestSplit(tmp_.path()); }
  std::string Uri(size_t index) const {
    return DatasetUri(data::DatasetKind::kIdx, data::Split::kTest, index, tmp_.path());
  }

  TempDir tmp_;
  ImageResolver resolver_;
};

TEST_F(ItemsImageResolverTest, ResolvesDatasetItemsAndLoadsTheSplitOnce) {
  ASSERT_OK_AND_ASSIGN(image::Image img, resolver_.Resolve(Uri(1)));
  EXPECT_EQ(img.height, 2);
  EXPECT_EQ(img.width, 3);
  EXPECT_EQ(img.channels, 1);
  EXPECT_THAT(img.pixels, ::testing::ElementsAre(10, 11, 12, 13, 14, 15));
  ASSERT_OK_AND_ASSIGN(const data::Dataset* a, resolver_.DatasetOf(Uri(0)));
  ASSERT_OK_AND_ASSIGN(const data::Dataset* b, resolver_.DatasetOf(Uri(1)));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->size(), 2u);
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, resolver_.ClassNames(Uri(0)));
  EXPECT_EQ(names.size(), 10u);  // MNIST digits "0" .. "9"
  EXPECT_EQ(names[7], "7");
}

TEST_F(ItemsImageResolverTest, AnIndexPastTheSplitIsOutOfRange) {
  EXPECT_THAT(
      resolver_.Resolve(Uri(2)).status(),
      StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("index 2 but the split has 2 images")));
}

TEST_F(ItemsImageResolverTest, FileUris) {
  image::Image img(2, 2, 3);
  img.pixels[4] = 200;
  ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
  const std::string path = tmp_.Join("pic.png");
  ASSERT_OK(base::WriteFileAtomically(path, png));
  const std::string uri = "file:" + path;
  ASSERT_OK_AND_ASSIGN(image::Image back, resolver_.Resolve(uri));
  EXPECT_EQ(back.pixels, img.pixels);
  // A file is no data set: NOT_FOUND for DatasetOf, no class names.
  EXPECT_THAT(resolver_.DatasetOf(uri).status(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("is a file, not a data set")));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, resolver_.ClassNames(uri));
  EXPECT_TRUE(names.empty());
  // Bytes that do not decode are DATA_LOSS naming the file.
  const std::string junk = tmp_.Join("junk.png");
  ASSERT_OK(base::WriteFileAtomically(junk, "not an image"));
  EXPECT_THAT(resolver_.Resolve("file:" + junk).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(junk)));
  EXPECT_THAT(ReadImageFile(tmp_.Join("missing.png")).status(),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST_F(ItemsImageResolverTest, RefusesUrisInNeitherForm) {
  EXPECT_THAT(resolver_.Resolve("test-1").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("names no image")));
  EXPECT_THAT(resolver_.DatasetOf("test-1").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

}  // namespace
}  // namespace latentsearch::items

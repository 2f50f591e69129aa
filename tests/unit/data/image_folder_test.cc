#include "common/data/image_folder.h"

#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::data {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

image::Image Flat(int h, int w, int c, uint8_t v) {
  image::Image img(h, w, c);
  for (uint8_t& p : img.pixels) p = v;
  return img;
}

class ImageFolderTest : public ::testing::Test {
 protected:
  void WritePng(const std::string& rel, const image::Image& img) {
    absl::StatusOr<std::string> png = image::EncodePng(img);
    ASSERT_OK(png.status());
    Write(rel, *png);
  }
  void WriteJpeg(const std::string& rel, const image::Image& img) {
    absl::StatusOr<std::string> jpg = image::EncodeJpeg(img, 95);
    ASSERT_OK(jpg.status());
    Write(rel, *jpg);
  }
  void Write(const std::string& rel, const std::string& data) {
    const std::string path = tmp_.Join(rel);
    ASSERT_OK(base::MakeDirs(path.substr(0, path.find_last_of('/'))));
    ASSERT_OK(base::WriteFileAtomically(path, data));
  }
  // Classes "cat" (2 PNGs) and "dog" (1 JPEG), plus files to be skipped.
  void WriteLabelled() {
    WritePng("pets/dog/a.JPG.png", Flat(10, 20, 3, 200));
    WriteJpeg("pets/cat/b.jpeg", Flat(16, 16, 3, 100));
    WritePng("pets/cat/a.png", Flat(8, 8, 1, 50));
    Write("pets/cat/notes.txt", "not an image");
    Write("pets/cat/.hidden.png", "not even a png");
    Write("pets/README", "top-level file, not a class");
  }

  TempDir tmp_;
};

TEST_F(ImageFolderTest, LabelledFolderSortedResizedConverted) {
  WriteLabelled();
  ImageFolderOptions opt;
  opt.height = 4;
  opt.width = 6;
  opt.channels = 3;
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadImageFolder(tmp_.Join("pets"), opt));
  EXPECT_THAT(d.class_names, ElementsAre("cat", "dog"));
  EXPECT_THAT(d.labels, ElementsAre(0, 0, 1));
  ASSERT_EQ(d.uris.size(), 3u);
  EXPECT_THAT(d.uris[0], HasSubstr("pets/cat/a.png"));
  EXPECT_THAT(d.uris[1], HasSubstr("pets/cat/b.jpeg"));
  EXPECT_THAT(d.uris[2], HasSubstr("pets/dog/a.JPG.png"));
  EXPECT_EQ(d.height, 4);
  EXPECT_EQ(d.width, 6);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.pixels.size(), 3u * 4 * 6 * 3);
  EXPECT_OK(Validate(d));
  // Flat colours survive resizing; grey became RGB.
  EXPECT_EQ(d.image_data(0)[0], 50);
  EXPECT_NEAR(d.image_data(1)[5], 100, 3);
  EXPECT_EQ(d.image_data(2)[71], 200);
}

TEST_F(ImageFolderTest, GreyOutput) {
  WriteLabelled();
  ImageFolderOptions opt;
  opt.height = 3;
  opt.width = 3;
  opt.channels = 1;
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadImageFolder(tmp_.Join("pets"), opt));
  EXPECT_EQ(d.channels, 1);
  EXPECT_EQ(d.pixels.size(), 27u);
  EXPECT_EQ(d.image_data(2)[0], 200);
}

TEST_F(ImageFolderTest, SingleThreadedGivesTheSameResult) {
  WriteLabelled();
  ImageFolderOptions one;
  one.num_threads = 1;
  ASSERT_OK_AND_ASSIGN(Dataset a, ReadImageFolder(tmp_.Join("pets"), one));
  ASSERT_OK_AND_ASSIGN(Dataset b, ReadImageFolder(tmp_.Join("pets")));
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.uris, b.uris);
}

TEST_F(ImageFolderTest, UnlabelledFlatFolder) {
  WritePng("mine/z.png", Flat(5, 5, 3, 1));
  WritePng("mine/a.png", Flat(7, 3, 3, 2));
  WritePng("mine/sub/ignored.png", Flat(7, 3, 3, 3));
  ImageFolderOptions opt;
  opt.labelled = false;
  ASSERT_OK_AND_ASSIGN(Dataset d, ReadImageFolder(tmp_.Join("mine"), opt));
  EXPECT_EQ(d.size(), 2u);
  EXPECT_THAT(d.labels, ElementsAre(kNoLabel, kNoLabel));
  EXPECT_TRUE(d.class_names.empty());
  EXPECT_THAT(d.uris[0], HasSubstr("mine/a.png"));
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.image_data(0)[0], 2);
  EXPECT_OK(Validate(d));
}

TEST_F(ImageFolderTest, UndecodableImageIsDataLossNamingTheFile) {
  WriteLabelled();
  Write("pets/dog/broken.png", "\x89PNG\r\n\x1a\nthis is not really a png");
  ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(Flat(4, 4, 3, 0)));
  Write("pets/dog/cut.png", png.substr(0, png.size() / 2));
  EXPECT_THAT(ReadImageFolder(tmp_.Join("pets")),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("pets/dog/broken.png"),
                                                          HasSubstr("undecodable PNG image"))));
  Write("pets/dog/broken.png", "plain text with a png name");
  EXPECT_THAT(ReadImageFolder(tmp_.Join("pets")),
              StatusIs(absl::StatusCode::kDataLoss, AllOf(HasSubstr("pets/dog/broken.png"),
                                                          HasSubstr("not a PNG or JPEG file"))));
  Write("pets/dog/broken.png", "");
  EXPECT_THAT(ReadImageFolder(tmp_.Join("pets")),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("pets/dog/broken.png"), HasSubstr("0 bytes"))));
}

TEST_F(ImageFolderTest, EmptyFoldersAreNotFound) {
  ASSERT_OK(base::MakeDirs(tmp_.Join("empty")));
  EXPECT_THAT(ReadImageFolder(tmp_.Join("empty")),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("empty"), HasSubstr("has no class sub-folders"))));
  ImageFolderOptions flat;
  flat.labelled = false;
  EXPECT_THAT(ReadImageFolder(tmp_.Join("empty"), flat),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("holds no PNG or JPEG files")));
  WriteLabelled();
  ASSERT_OK(base::MakeDirs(tmp_.Join("pets/emu")));
  EXPECT_THAT(
      ReadImageFolder(tmp_.Join("pets")),
      StatusIs(absl::StatusCode::kNotFound, AllOf(HasSubstr("class folder"), HasSubstr("pets/emu"),
                                                  HasSubstr("holds no PNG or JPEG files"))));
}

TEST_F(ImageFolderTest, MissingOrNotAFolder) {
  EXPECT_THAT(ReadImageFolder(tmp_.Join("nope")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
  Write("file.png", "x");
  EXPECT_THAT(ReadImageFolder(tmp_.Join("file.png")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is not a folder")));
}

TEST_F(ImageFolderTest, BadOptions) {
  ImageFolderOptions opt;
  opt.channels = 4;
  EXPECT_THAT(ReadImageFolder(tmp_.path(), opt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 or 3 channels")));
  opt.channels = 3;
  opt.height = 0;
  EXPECT_THAT(ReadImageFolder(tmp_.path(), opt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[1, 4096]")));
}

}  // namespace
}  // namespace latentsearch::data

#include "common/image/grid.h"

#include <string>
#include <vector>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::image {
namespace {

using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

Image Flat(int h, int w, int c, uint8_t v) {
  Image img(h, w, c);
  for (uint8_t& p : img.pixels) p = v;
  return img;
}

bool PixelIs(const Image& img, int y, int x, uint8_t r, uint8_t g, uint8_t b) {
  const uint8_t* p = img.at(y, x);
  return p[0] == r && p[1] == g && p[2] == b;
}

TEST(GridTest, DimensionsFollowTheFormula) {
  std::vector<Image> tiles(10, Flat(4, 6, 1, 0));
  GridOptions opt;
  opt.rows = 3;
  opt.cols = 4;
  opt.margin = 2;
  opt.scale = 2;
  ASSERT_OK_AND_ASSIGN(Image sheet, ComposeGrid(tiles, {}, opt));
  EXPECT_EQ(sheet.channels, 3);
  EXPECT_EQ(sheet.width, 4 * 6 * 2 + 5 * 2);
  EXPECT_EQ(sheet.height, 3 * 4 * 2 + 4 * 2);

  std::vector<std::string> captions(10, "x");
  ASSERT_OK_AND_ASSIGN(Image captioned, ComposeGrid(tiles, captions, opt));
  EXPECT_EQ(captioned.width, sheet.width);
  EXPECT_EQ(captioned.height, 3 * (4 * 2 + kCaptionHeight) + 4 * 2);
}

TEST(GridTest, DefaultLayoutIsNearlySquare) {
  std::vector<Image> tiles(10, Flat(2, 2, 3, 0));
  GridOptions opt;
  opt.margin = 1;
  ASSERT_OK_AND_ASSIGN(Image sheet, ComposeGrid(tiles, {}, opt));
  // ceil(sqrt(10)) = 4 columns, 3 rows.
  EXPECT_EQ(sheet.width, 4 * 2 + 5);
  EXPECT_EQ(sheet.height, 3 * 2 + 4);
}

TEST(GridTest, TilesLandInTheirCellsOnTheBackground) {
  std::vector<Image> tiles = {Flat(2, 3, 3, 10), Flat(2, 3, 1, 20), Flat(2, 3, 3, 30)};
  tiles[0].at(1, 2)[0] = 99;  // Bottom-right pixel of tile 0, red channel.
  GridOptions opt;
  opt.rows = 2;
  opt.cols = 2;
  opt.margin = 1;
  opt.scale = 2;
  opt.background = {1, 2, 3};
  ASSERT_OK_AND_ASSIGN(Image sheet, ComposeGrid(tiles, {}, opt));
  EXPECT_TRUE(PixelIs(sheet, 0, 0, 1, 2, 3));             // Margin.
  EXPECT_TRUE(PixelIs(sheet, 1, 1, 10, 10, 10));          // Tile 0, top-left.
  EXPECT_TRUE(PixelIs(sheet, 4, 6, 99, 10, 10));          // Tile 0 (1, 2) scaled ×2.
  EXPECT_TRUE(PixelIs(sheet, 1, 1 + 6 + 1, 20, 20, 20));  // Tile 1 (grey).
  EXPECT_TRUE(PixelIs(sheet, 1 + 4 + 1, 1, 30, 30, 30));  // Tile 2.
  // Cell 3 is unused and stays background.
  EXPECT_TRUE(PixelIs(sheet, 1 + 4 + 1, 1 + 6 + 1, 1, 2, 3));
}

TEST(GridTest, CaptionsStayInsideTheirBand) {
  // Every printable character (and some that are not) in one caption.
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::vector<Image> tiles = {Flat(8, 2000, 3, 255)};
  GridOptions opt;
  opt.margin = 0;
  opt.caption_color = {255, 0, 0};
  ASSERT_OK_AND_ASSIGN(Image sheet, ComposeGrid(tiles, {all}, opt));
  int inked = 0;
  for (int y = 0; y < sheet.height; ++y) {
    for (int x = 0; x < sheet.width; ++x) {
      if (PixelIs(sheet, y, x, 255, 0, 0)) {
        ++inked;
        EXPECT_GE(y, 8) << "caption ink above its band at x " << x;
      }
    }
  }
  EXPECT_GT(inked, 500);
  EXPECT_GT(CaptionWidth("airplane"), 30);
  EXPECT_LT(CaptionWidth("airplane"), 60);
}

TEST(GridTest, CaptionsAreClippedToTheTile) {
  std::vector<Image> tiles = {Flat(4, 10, 3, 255), Flat(4, 10, 3, 255)};
  GridOptions opt;
  opt.margin = 3;
  opt.cols = 2;
  opt.caption_color = {0, 0, 255};
  ASSERT_OK_AND_ASSIGN(Image sheet, ComposeGrid(tiles, {"WWWWWWWWWWWW", ""}, opt));
  for (int y = 0; y < sheet.height; ++y) {
    for (int x = 3 + 10; x < sheet.width; ++x) {
      EXPECT_FALSE(PixelIs(sheet, y, x, 0, 0, 255)) << y << "," << x;
    }
  }
}

TEST(GridTest, RejectsBadInput) {
  GridOptions opt;
  EXPECT_THAT(ComposeGrid({}, {}, opt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no tiles")));
  std::vector<Image> mixed = {Flat(2, 2, 3, 0), Flat(2, 3, 3, 0)};
  EXPECT_THAT(ComposeGrid(mixed, {}, opt),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tile 1 is 2x3; expected every tile to be 2x2")));
  std::vector<Image> tiles(5, Flat(2, 2, 3, 0));
  EXPECT_THAT(ComposeGrid(tiles, {"a", "b"}, opt),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 captions for 5 tiles")));
  GridOptions small;
  small.rows = 2;
  small.cols = 2;
  EXPECT_THAT(ComposeGrid(tiles, {}, small),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot hold 5 tiles")));
  GridOptions bad_scale;
  bad_scale.scale = 0;
  EXPECT_THAT(ComposeGrid(tiles, {}, bad_scale),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale 0")));
}

}  // namespace
}  // namespace latentsearch::image

#include "common/image/grid.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"

// Header-only font whose functions are all static (no implementation macro).
#include <stb_easy_font.h>

namespace latentsearch::image {
namespace {

// stb_easy_font indexes its tables with (c - 32) and (c - 32 + 1): only
// ' '..'~' are safe.
std::string Printable(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c < 32 || c > 126) c = '?';
  }
  return out;
}

void FillRect(Image& sheet, int x0, int y0, int x1, int y1, Rgb color) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, sheet.width);
  y1 = std::min(y1, sheet.height);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      uint8_t* p = sheet.at(y, x);
      p[0] = color.r;
      p[1] = color.g;
      p[2] = color.b;
    }
  }
}

// Draws `text` with its top-left corner at (x, y), clipped to columns
// [x, clip_x1) and rows [y, y + kCaptionHeight).
void DrawText(Image& sheet, int x, int y, int clip_x1, absl::string_view text, Rgb color) {
  std::string s = Printable(text);
  if (s.empty()) return;
  // ~270 bytes per character according to stb_easy_font; 16-byte vertices,
  // 4 per quad. Floats keep the buffer aligned for its float stores.
  std::vector<float> vbuf((s.size() * 400) / sizeof(float) + 64);
  const int quads = stb_easy_font_print(0.f, 0.f, s.data(), nullptr, vbuf.data(),
                                        static_cast<int>(vbuf.size() * sizeof(float)));
  for (int q = 0; q < quads; ++q) {
    const float* v0 = &vbuf[static_cast<size_t>(q) * 16];      // vertex 0
    const float* v2 = &vbuf[static_cast<size_t>(q) * 16 + 8];  // vertex 2
    const int qx0 = x + static_cast<int>(std::lround(v0[0]));
    const int qy0 = y + 1 + static_cast<int>(std::lround(v0[1]));
    const int qx1 = x + static_cast<int>(std::lround(v2[0]));
    const int qy1 = y + 1 + static_cast<int>(std::lround(v2[1]));
    FillRect(sheet, qx0, qy0, std::min(qx1, clip_x1), std::min(qy1, y + kCaptionHeight), color);
  }
}

}  // namespace

int CaptionWidth(absl::string_view text) {
  std::string s = Printable(text);
  return stb_easy_font_width(s.data());
}

namespace {

// Tiles all of one size, captions none or one per tile, options in range.
absl::Status CheckGridInputs(absl::Span<const Image> tiles, absl::Span<const std::string> captions,
                             const GridOptions& options) {
  if (tiles.empty()) {
    return absl::InvalidArgumentError("grid has no tiles; expected at least 1");
  }
  for (size_t i = 0; i < tiles.size(); ++i) {
    if (absl::Status s = CheckImage(tiles[i]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("grid tile ", i, ": ", s.message()));
    }
    if (tiles[i].height != tiles[0].height || tiles[i].width != tiles[0].width) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grid tile ", i, " is ", tiles[i].height, "x", tiles[i].width,
          "; expected every tile to be ", tiles[0].height, "x", tiles[0].width, " like tile 0"));
    }
  }
  if (!captions.empty() && captions.size() != tiles.size()) {
    return absl::InvalidArgumentError(absl::StrCat("grid has ", captions.size(), " captions for ",
                                                   tiles.size(),
                                                   " tiles; expected none or one per tile"));
  }
  if (options.margin < 0 || options.margin > 256 || options.scale < 1 || options.scale > 16 ||
      options.rows < 0 || options.cols < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("grid options out of range (rows ", options.rows, ", cols ", options.cols,
                     ", margin ", options.margin, ", scale ", options.scale,
                     "); expected rows, cols >= 0, margin in [0, 256], scale in [1, 16]"));
  }
  return absl::OkStatus();
}

// Where the cells of a grid sheet lie, in sheet pixels.
struct GridLayout {
  int64_t rows = 0, cols = 0;
  int64_t tile_h = 0, tile_w = 0;  // a tile's size after scaling
  int64_t caption_h = 0;           // 0 without captions
  int64_t margin = 0;
  int64_t sheet_h = 0, sheet_w = 0;
};

absl::StatusOr<GridLayout> LayOutGrid(int64_t n, const Image& first, bool captions,
                                      const GridOptions& options) {
  GridLayout g;
  g.cols = options.cols;
  if (g.cols == 0) g.cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  g.rows = options.rows != 0 ? options.rows : (n + g.cols - 1) / g.cols;
  if (g.rows * g.cols < n) {
    return absl::InvalidArgumentError(absl::StrCat("grid of ", g.rows, "x", g.cols,
                                                   " cells cannot hold ", n,
                                                   " tiles; expected rows x cols >= tiles"));
  }
  g.tile_h = static_cast<int64_t>(first.height) * options.scale;
  g.tile_w = static_cast<int64_t>(first.width) * options.scale;
  g.caption_h = captions ? kCaptionHeight : 0;
  g.margin = options.margin;
  g.sheet_w = g.cols * g.tile_w + (g.cols + 1) * g.margin;
  g.sheet_h = g.rows * (g.tile_h + g.caption_h) + (g.rows + 1) * g.margin;
  if (g.sheet_w * g.sheet_h > kMaxDecodePixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("grid sheet of ", g.sheet_h, "x", g.sheet_w, " pixels exceeds the limit of ",
                     kMaxDecodePixels, " pixels; use fewer tiles or a smaller scale"));
  }
  return g;
}

// Copies `tile`, scaled up by `scale` (nearest neighbour), to (x0, y0) of the
// RGB `sheet`; grey tiles are repeated into the three channels.
void BlitTile(const Image& tile, int scale, int64_t tile_h, int64_t tile_w, int x0, int y0,
              Image& sheet) {
  for (int y = 0; y < tile_h; ++y) {
    const int sy = y / scale;
    uint8_t* out = sheet.at(y0 + y, x0);
    for (int x = 0; x < tile_w; ++x, out += 3) {
      const uint8_t* p = tile.at(sy, x / scale);
      if (tile.channels == 1) {
        out[0] = out[1] = out[2] = p[0];
      } else {
        out[0] = p[0];
        out[1] = p[1];
        out[2] = p[2];
      }
    }
  }
}

}  // namespace

absl::StatusOr<Image> ComposeGrid(absl::Span<const Image> tiles,
                                  absl::Span<const std::string> captions,
                                  const GridOptions& options) {
  if (absl::Status s = CheckGridInputs(tiles, captions, options); !s.ok()) return s;
  const int64_t n = static_cast<int64_t>(tiles.size());
  absl::StatusOr<GridLayout> layout = LayOutGrid(n, tiles[0], !captions.empty(), options);
  if (!layout.ok()) return layout.status();
  const GridLayout& g = *layout;

  Image sheet(static_cast<int>(g.sheet_h), static_cast<int>(g.sheet_w), 3);
  FillRect(sheet, 0, 0, sheet.width, sheet.height, options.background);
  for (int64_t i = 0; i < n; ++i) {
    const int x0 = static_cast<int>(g.margin + (i % g.cols) * (g.tile_w + g.margin));
    const int y0 = static_cast<int>(g.margin + (i / g.cols) * (g.tile_h + g.caption_h + g.margin));
    BlitTile(tiles[static_cast<size_t>(i)], options.scale, g.tile_h, g.tile_w, x0, y0, sheet);
    if (!captions.empty()) {
      DrawText(sheet, x0, static_cast<int>(y0 + g.tile_h), static_cast<int>(x0 + g.tile_w),
               captions[static_cast<size_t>(i)], options.caption_color);
    }
  }
  return sheet;
}

}  // namespace latentsearch::image

// Contact sheets: equal-size tiles laid out in rows × cols with margins, an
// optional one-line caption under each tile (a tiny built-in bitmap font,
// printable ASCII). Used for sample grids, reconstructions and query results.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_IMAGE_GRID_H_
#define LATENTSEARCH_COMMON_IMAGE_GRID_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/image/image.h"

namespace latentsearch::image {

// An 8-bit colour. A value type; thread-safe for const access.
struct Rgb {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
};

// How ComposeGrid lays out a sheet. A value type.
struct GridOptions {
  // Tiles per row; 0 = ceil(sqrt(number of tiles)).
  int cols = 0;
  // Rows; 0 = just enough for the tiles. Must fit the tiles when set.
  int rows = 0;
  // Pixels of background around the sheet and between tiles; 0..256.
  int margin = 2;
  // Each tile is enlarged by this integer factor (nearest neighbour), 1..16,
  // so that 28×28 or 32×32 images stay visible.
  int scale = 1;
  Rgb background{255, 255, 255};
  Rgb caption_color{0, 0, 0};
};

// Height in pixels of the caption band under each tile when captions are on.
inline constexpr int kCaptionHeight = 11;

// Width in pixels of `text` in the caption font (non-printable characters
// count as '?').
int CaptionWidth(absl::string_view text);

// A 3-channel sheet of `tiles` (all the same height and width; grey tiles are
// shown as grey) laid out row-major. `captions` is empty (no caption bands) or
// holds one string per tile (an empty string leaves that band blank); text
// wider than the tile is clipped. The sheet is
//   width  = cols × tile_width × scale + (cols + 1) × margin,
//   height = rows × (tile_height × scale + caption) + (rows + 1) × margin,
// caption = kCaptionHeight with captions, else 0. Unused cells stay
// background. INVALID_ARGUMENT for no tiles, tiles of different sizes, a bad
// tile, a captions count ≠ tiles, or options out of range.
absl::StatusOr<Image> ComposeGrid(absl::Span<const Image> tiles,
                                  absl::Span<const std::string> captions,
                                  const GridOptions& options);

}  // namespace latentsearch::image

#endif  // LATENTSEARCH_COMMON_IMAGE_GRID_H_

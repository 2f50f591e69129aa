// Images as plain values: decode PNG/JPEG, encode PNG/JPEG, resize, convert
// between grey and RGB. No gRPC, no LibTorch; stb does the codec work.
//
// Status codes: an argument that is itself wrong (undecodable bytes, a
// malformed Image, a bad target size) is INVALID_ARGUMENT; a decoded image
// over the size limit is RESOURCE_EXHAUSTED. Callers that read the bytes from
// a file re-label decoding failures as DATA_LOSS and name the file.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_IMAGE_IMAGE_H_
#define LATENTSEARCH_COMMON_IMAGE_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::image {

// An 8-bit image, `channels` 1 (grey) or 3 (RGB).
// Thread-safety: a value type; const access from many threads is safe.
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  // height × width × channels bytes, HWC row-major (RGBRGB... per row).
  std::vector<uint8_t> pixels;

  Image() = default;
  // A zero-filled (black) image of the given shape.
  Image(int height, int width, int channels);

  size_t num_bytes() const { return static_cast<size_t>(height) * width * channels; }
  // Pointer to the `channels` bytes of pixel (y, x); no bounds checks.
  uint8_t* at(int y, int x) {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * channels;
  }
  const uint8_t* at(int y, int x) const {
    return pixels.data() + (static_cast<size_t>(y) * width + x) * channels;
  }
};

// Largest image Decode() accepts, in pixels (height × width).
inline constexpr int64_t kMaxDecodePixels = int64_t{1} << 26;

// OK when height, width ≥ 1, channels ∈ {1, 3} and pixels.size() equals
// height × width × channels; INVALID_ARGUMENT naming the problem otherwise.
absl::Status CheckImage(const Image& image);

// Decodes PNG or JPEG file bytes. `channels` 0 keeps the file's colour type
// (grey and grey+alpha → 1, RGB and RGBA → 3; alpha is dropped, not
// composited); 1 or 3 converts. INVALID_ARGUMENT names what was wrong (empty
// input, not PNG/JPEG, corrupt data, zero size); RESOURCE_EXHAUSTED when the
// image exceeds kMaxDecodePixels.
absl::StatusOr<Image> Decode(absl::string_view bytes, int channels = 0);

// PNG file bytes of `image` (8-bit grey or RGB).
absl::StatusOr<std::string> EncodePng(const Image& image);

// JPEG file bytes of `image`; `quality` in [1, 100]. stb always writes a
// colour (YCbCr) JPEG, so a grey image decodes back with 3 equal channels.
absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality = 90);

// `image` resampled to height × width (stb's default filters: Catmull-Rom
// when enlarging, Mitchell when shrinking). Same size returns a copy.
absl::StatusOr<Image> Resize(const Image& image, int height, int width);

// `image` with `channels` (1 or 3) channels. RGB → grey uses the luma weights
// 0.299 R + 0.587 G + 0.114 B, rounded; grey → RGB repeats the value.
absl::StatusOr<Image> ToChannels(const Image& image, int channels);

}  // namespace latentsearch::image

#endif  // LATENTSEARCH_COMMON_IMAGE_IMAGE_H_

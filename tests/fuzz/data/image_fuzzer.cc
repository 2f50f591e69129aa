// Decodes arbitrary bytes as PNG/JPEG and, when that works, pushes the image
// through resize, channel conversion, a captioned grid and PNG encoding.
// Nothing may crash; errors are fine.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/image/grid.h"
#include "common/image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace latentsearch::image;
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const int channels = size > 0 ? data[size - 1] % 4 : 0;  // 0..3, 2 is invalid.
  absl::StatusOr<Image> img = Decode(bytes, channels);
  if (!img.ok() || img->num_bytes() > (1u << 22)) return 0;
  absl::StatusOr<Image> small = Resize(*img, 1 + img->height % 9, 1 + img->width % 7);
  if (!small.ok()) return 0;
  absl::StatusOr<Image> grey = ToChannels(*small, 1);
  absl::StatusOr<Image> rgb = ToChannels(*small, 3);
  if (!grey.ok() || !rgb.ok()) return 0;
  const std::string caption(bytes.substr(0, 40));
  GridOptions options;
  options.scale = 2;
  (void)ComposeGrid({*grey, *grey}, {caption, ""}, options);
  (void)EncodePng(*rgb);
  return 0;
}

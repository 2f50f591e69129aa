#include "common/image/image.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

// Debian's libstb.so holds the implementations; only the declarations here.
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>

namespace latentsearch::image {
namespace {

enum class Format { kUnknown, kPng, kJpeg };

Format Sniff(absl::string_view bytes) {
  static constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPngMagic, 8) == 0) {
    return Format::kPng;
  }
  if (bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xFF &&
      static_cast<uint8_t>(bytes[1]) == 0xD8 && static_cast<uint8_t>(bytes[2]) == 0xFF) {
    return Format::kJpeg;
  }
  return Format::kUnknown;
}

const char* FormatName(Format f) {
  switch (f) {
    case Format::kPng:
      return "PNG";
    case Format::kJpeg:
      return "JPEG";
    case Format::kUnknown:
      break;
  }
  return "unknown";
}

std::string FirstBytesHex(absl::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    absl::StrAppend(&out, i == 0 ? "" : " ",
                    absl::StrFormat("%02x", static_cast<uint8_t>(bytes[i])));
  }
  return out;
}

uint32_t BigEndian(absl::string_view b, size_t at, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// Height and width from the PNG IHDR chunk or the first JPEG SOF segment, so
// that a zero size is reported as such (stb only says "unknown image type").
// False when the header cannot be found.
bool HeaderSize(absl::string_view b, Format f, uint32_t* h, uint32_t* w) {
  if (f == Format::kPng) {
    if (b.size() < 24 || b.substr(12, 4) != "IHDR") return false;
    *w = BigEndian(b, 16, 4);
    *h = BigEndian(b, 20, 4);
    return true;
  }
  size_t pos = 2;  // After SOI.
  while (pos + 4 <= b.size()) {
    if (static_cast<uint8_t>(b[pos]) != 0xFF) return false;
    const uint8_t marker = static_cast<uint8_t>(b[pos + 1]);
    if (marker == 0xFF) {  // Fill byte.
      ++pos;
      continue;
    }
    const uint32_t len = BigEndian(b, pos + 2, 2);
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (pos + 9 > b.size()) return false;
      *h = BigEndian(b, pos + 5, 2);
      *w = BigEndian(b, pos + 7, 2);
      return true;
    }
    if (marker == 0xDA || len < 2) return false;  // Scan data before any SOF.
    pos += 2 + len;
  }
  return false;
}

// stb's terse failure reasons, spelt out where we know what they mean.
std::string Explain(const char* reason) {
  if (reason == nullptr) return "unknown decoder error";
  absl::string_view r(reason);
  if (r == "0-pixel image") return "zero size (width or height is 0)";
  if (r == "too large") return "dimensions too large";
  if (r == "outofmem") return "out of memory";
  return std::string(r);
}

void AppendBytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                             static_cast<size_t>(size));
}

}  // namespace

Image::Image(int h, int w, int c) : height(h), width(w), channels(c) {
  if (h > 0 && w > 0 && c > 0) pixels.assign(num_bytes(), 0);
}

absl::Status CheckImage(const Image& image) {
  if (image.height < 1 || image.width < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("image size ", image.height, "x", image.width,
                     " is empty; height and width must be at least 1"));
  }
  if (image.channels != 1 && image.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("image has ", image.channels, " channels; expected 1 (grey) or 3 (RGB)"));
  }
  if (image.pixels.size() != image.num_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("image holds ", image.pixels.size(), " bytes; expected ", image.num_bytes(),
                     " for ", image.height, "x", image.width, "x", image.channels, " (HWC)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> Decode(absl::string_view bytes, int channels) {
  if (channels != 0 && channels != 1 && channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode to ", channels, " channels; expected 0 (as stored), 1 or 3"));
  }
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        "undecodable image: input is empty (0 bytes); expected PNG or JPEG bytes");
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("image input of ", bytes.size(), " bytes exceeds the 2 GiB decoder limit"));
  }
  Format format = Sniff(bytes);
  if (format == Format::kUnknown) {
    return absl::InvalidArgumentError(absl::StrCat("undecodable image: not a PNG or JPEG file (",
                                                   bytes.size(), " bytes starting ",
                                                   FirstBytesHex(bytes), ")"));
  }
  uint32_t header_h = 0, header_w = 0;
  if (HeaderSize(bytes, format, &header_h, &header_w) && (header_h == 0 || header_w == 0)) {
    return absl::InvalidArgumentError(absl::StrCat("undecodable ", FormatName(format),
                                                   " image: zero size (", header_h, "x", header_w,
                                                   " in its header); expected at least 1x1"));
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (stbi_info_from_memory(data, len, &w, &h, &comp) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("undecodable ", FormatName(format), " image (",
                                                   bytes.size(),
                                                   " bytes): ", Explain(stbi_failure_reason())));
  }
  if (w < 1 || h < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("undecodable ", FormatName(format), " image: zero size (", h, "x", w, ")"));
  }
  if (static_cast<int64_t>(w) * h > kMaxDecodePixels) {
    return absl::ResourceExhaustedError(absl::StrCat(FormatName(format), " image of ", h, "x", w,
                                                     " pixels exceeds the limit of ",
                                                     kMaxDecodePixels, " pixels"));
  }
  const int want = channels != 0 ? channels : (comp <= 2 ? 1 : 3);
  int got_w = 0, got_h = 0, got_comp = 0;
  stbi_uc* pixels = stbi_load_from_memory(data, len, &got_w, &got_h, &got_comp, want);
  if (pixels == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("undecodable ", FormatName(format), " image (",
                                                   h, "x", w, ", ", bytes.size(),
                                                   " bytes): ", Explain(stbi_failure_reason())));
  }
  Image out;
  out.height = got_h;
  out.width = got_w;
  out.channels = want;
  out.pixels.assign(pixels, pixels + out.num_bytes());
  stbi_image_free(pixels);
  return out;
}

absl::StatusOr<std::string> EncodePng(const Image& image) {
  if (absl::Status s = CheckImage(image); !s.ok()) return s;
  std::string out;
  if (stbi_write_png_to_func(&AppendBytes, &out, image.width, image.height, image.channels,
                             image.pixels.data(), image.width * image.channels) == 0) {
    return absl::InternalError(
        absl::StrCat("PNG encoding of a ", image.height, "x", image.width, " image failed"));
  }
  return out;
}

absl::StatusOr<std::string> EncodeJpeg(const Image& image, int quality) {
  if (absl::Status s = CheckImage(image); !s.ok()) return s;
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("JPEG quality ", quality, " is outside [1, 100]"));
  }
  std::string out;
  if (stbi_write_jpg_to_func(&AppendBytes, &out, image.width, image.height, image.channels,
                             image.pixels.data(), quality) == 0) {
    return absl::InternalError(
        absl::StrCat("JPEG encoding of a ", image.height, "x", image.width, " image failed"));
  }
  return out;
}

absl::StatusOr<Image> Resize(const Image& image, int height, int width) {
  if (absl::Status s = CheckImage(image); !s.ok()) return s;
  if (height < 1 || width < 1 || static_cast<int64_t>(height) * width > kMaxDecodePixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resize to ", height, "x", width,
                     "; height and width must be at least 1 and the area at most ",
                     kMaxDecodePixels, " pixels"));
  }
  if (height == image.height && width == image.width) return image;
  Image out(height, width, image.channels);
  if (stbir_resize_uint8(image.pixels.data(), image.width, image.height, 0, out.pixels.data(),
                         width, height, 0, image.channels) == 0) {
    return absl::InternalError(absl::StrCat("resizing ", image.height, "x", image.width, " to ",
                                            height, "x", width, " failed"));
  }
  return out;
}

absl::StatusOr<Image> ToChannels(const Image& image, int channels) {
  if (absl::Status s = CheckImage(image); !s.ok()) return s;
  if (channels != 1 && channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot convert to ", channels, " channels; expected 1 (grey) or 3 (RGB)"));
  }
  if (channels == image.channels) return image;
  Image out(image.height, image.width, channels);
  const size_t n = static_cast<size_t>(image.height) * image.width;
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  if (channels == 3) {
    for (size_t i = 0; i < n; ++i) {
      o[3 * i] = o[3 * i + 1] = o[3 * i + 2] = in[i];
    }
  } else {
    // Integer weights summing to 1000, so white stays 255.
    for (size_t i = 0; i < n; ++i) {
      const uint32_t y = 299u * in[3 * i] + 587u * in[3 * i + 1] + 114u * in[3 * i + 2] + 500u;
      o[i] = static_cast<uint8_t>(y / 1000u);
    }
  }
  return out;
}

}  // namespace latentsearch::image

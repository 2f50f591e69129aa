#include "services/encoder/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/image/image.h"

namespace latentsearch::encoder {
namespace {

absl::Status Bad(size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("image ", index, ": ", what));
}

std::string Shape(const model::InputShape& s) {
  return absl::StrCat(s.height, "x", s.width, "x", s.channels);
}

float MeanOf(const model::Normalization& n, int c) { return n.mean.empty() ? 0.0f : n.mean[c]; }
float StdOf(const model::Normalization& n, int c) { return n.std.empty() ? 1.0f : n.std[c]; }

// HWC uint8 of spec.shape → C × H × W floats. Without mean/std this is
// exactly data::NormalizeRange's float(p) * scale.
void Normalize(const uint8_t* hwc, const InputSpec& spec, float* out) {
  const int c_count = spec.shape.channels;
  const size_t plane = static_cast<size_t>(spec.shape.height) * spec.shape.width;
  const model::Normalization& n = spec.normalization;
  const float scale = n.scale;
  const bool affine = !n.mean.empty() || !n.std.empty();
  for (int c = 0; c < c_count; ++c) {
    float* dst = out + c * plane;
    const uint8_t* src = hwc + c;
    if (!affine) {
      for (size_t p = 0; p < plane; ++p) dst[p] = static_cast<float>(src[p * c_count]) * scale;
    } else {
      const float m = MeanOf(n, c), s = StdOf(n, c);
      for (size_t p = 0; p < plane; ++p) {
        dst[p] = (static_cast<float>(src[p * c_count]) * scale - m) / s;
      }
    }
  }
}

// Model output value of channel c → pixel value (0..255 scale, unclamped).
inline float ToPixel(float x, const model::Normalization& n, int c) {
  return (x * StdOf(n, c) + MeanOf(n, c)) / n.scale;
}

}  // namespace

absl::Status ValidateNormalization(const model::Normalization& n, int channels) {
  if (!std::isfinite(n.scale) || n.scale == 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat("normalization.scale is ", n.scale,
                                                   "; expected a finite non-zero value (0 in "
                                                   "the proto means the default 1/255)"));
  }
  const size_t c = static_cast<size_t>(channels);
  if (!n.mean.empty() && n.mean.size() != c) {
    return absl::InvalidArgumentError(absl::StrCat("normalization.mean has ", n.mean.size(),
                                                   " entries; expected none or one per "
                                                   "channel (",
                                                   channels, ")"));
  }
  if (!n.std.empty() && n.std.size() != c) {
    return absl::InvalidArgumentError(absl::StrCat("normalization.std has ", n.std.size(),
                                                   " entries; expected none or one per "
                                                   "channel (",
                                                   channels, ")"));
  }
  for (size_t i = 0; i < n.mean.size(); ++i) {
    if (!std::isfinite(n.mean[i])) {
      return absl::InvalidArgumentError(absl::StrCat("normalization.mean[", i, "] is not finite"));
    }
  }
  for (size_t i = 0; i < n.std.size(); ++i) {
    if (!std::isfinite(n.std[i]) || n.std[i] == 0.0f) {
      return absl::InvalidArgumentError(absl::StrCat("normalization.std[", i, "] is ", n.std[i],
                                                     "; expected a finite non-zero value"));
    }
  }
  return absl::OkStatus();
}

absl::Status PreprocessImage(const v1::Image& image, size_t index, const InputSpec& spec,
                             absl::Span<float> out) {
  if (out.size() != spec.floats_per_image()) {
    return absl::InternalError(absl::StrCat("PreprocessImage: output holds ", out.size(),
                                            " floats; the model takes ", spec.floats_per_image()));
  }
  const model::InputShape& want = spec.shape;
  image::Image img;
  switch (image.source_case()) {
    case v1::Image::kRaw: {
      const v1::RawImage& raw = image.raw();
      if (raw.height() == 0 || raw.width() == 0) {
        return Bad(index, absl::StrCat("raw image is ", raw.height(), "x", raw.width(),
                                       "; height and width must be 1..", kMaxImageSide));
      }
      if (raw.height() > static_cast<uint32_t>(kMaxImageSide) ||
          raw.width() > static_cast<uint32_t>(kMaxImageSide)) {
        return Bad(index, absl::StrCat("raw image is ", raw.height(), "x", raw.width(),
                                       "; height and width must be at most ", kMaxImageSide));
      }
      if (raw.channels() != 1 && raw.channels() != 3) {
        return Bad(index, absl::StrCat("raw image has ", raw.channels(),
                                       " channels; expected 1 (grey) or 3 (RGB)"));
      }
      const uint64_t expected = uint64_t{raw.height()} * raw.width() * raw.channels();
      if (raw.pixels().size() != expected) {
        return Bad(index, absl::StrCat("raw pixels hold ", raw.pixels().size(),
                                       " bytes; height x width x channels = ", raw.height(), "x",
                                       raw.width(), "x", raw.channels(), " = ", expected));
      }
      const int h = static_cast<int>(raw.height()), w = static_cast<int>(raw.width()),
                c = static_cast<int>(raw.channels());
      if (h == want.height && w == want.width && c == want.channels) {
        // Already the model's shape: no copy.
        Normalize(reinterpret_cast<const uint8_t*>(raw.pixels().data()), spec, out.data());
        return absl::OkStatus();
      }
      img.height = h;
      img.width = w;
      img.channels = c;
      img.pixels.assign(raw.pixels().begin(), raw.pixels().end());
      break;
    }
    case v1::Image::kEncoded: {
      if (image.encoded().empty()) {
        return Bad(index, "encoded bytes are empty; expected a PNG or JPEG file");
      }
      absl::StatusOr<image::Image> decoded = image::Decode(image.encoded(), 0);
      if (!decoded.ok()) {
        return absl::Status(decoded.status().code(),
                            absl::StrCat("image ", index, ": ", decoded.status().message()));
      }
      img = std::move(*decoded);
      break;
    }
    default:
      return Bad(index, "no pixels: set either `encoded` (PNG/JPEG bytes) or `raw`");
  }
  // As the training readers do: channels first, then size.
  if (img.channels != want.channels) {
    absl::StatusOr<image::Image> converted = image::ToChannels(img, want.channels);
    if (!converted.ok()) return Bad(index, converted.status().message());
    img = std::move(*converted);
  }
  if (img.height != want.height || img.width != want.width) {
    absl::StatusOr<image::Image> resized = image::Resize(img, want.height, want.width);
    if (!resized.ok()) return Bad(index, resized.status().message());
    img = std::move(*resized);
  }
  if (img.num_bytes() != static_cast<size_t>(want.height) * want.width * want.channels) {
    return absl::InternalError(absl::StrCat("image ", index, ": conversion to ", Shape(want),
                                            " produced ", img.height, "x", img.width, "x",
                                            img.channels));
  }
  Normalize(img.pixels.data(), spec, out.data());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> PreprocessImages(
    const google::protobuf::RepeatedPtrField<v1::Image>& images, const InputSpec& spec,
    size_t max_images) {
  const size_t n = static_cast<size_t>(images.size());
  if (n == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no images in the request; send 1..", max_images));
  }
  if (n > max_images) {
    return absl::InvalidArgumentError(
        absl::StrCat(n, " images in one request; at most ", max_images,
                     " are allowed (--max_images_per_request): split the request"));
  }
  const size_t per = spec.floats_per_image();
  std::vector<float> out(n * per);
  for (size_t i = 0; i < n; ++i) {
    absl::Status s = PreprocessImage(images[static_cast<int>(i)], i, spec,
                                     absl::MakeSpan(out.data() + i * per, per));
    if (!s.ok()) return s;
  }
  return out;
}

void ToRawImage(absl::Span<const float> chw, const InputSpec& spec, v1::RawImage* out) {
  const int h = spec.shape.height, w = spec.shape.width, c_count = spec.shape.channels;
  const size_t plane = static_cast<size_t>(h) * w;
  out->set_height(h);
  out->set_width(w);
  out->set_channels(c_count);
  std::string* pixels = out->mutable_pixels();
  pixels->resize(plane * c_count);
  for (int c = 0; c < c_count; ++c) {
    const float* src = chw.data() + c * plane;
    for (size_t p = 0; p < plane; ++p) {
      const float v = std::nearbyint(ToPixel(src[p], spec.normalization, c));
      const float clamped = std::isnan(v) ? 0.0f : std::min(255.0f, std::max(0.0f, v));
      (*pixels)[p * c_count + c] = static_cast<char>(static_cast<uint8_t>(clamped));
    }
  }
}

float PixelMse(absl::Span<const float> input, absl::Span<const float> output,
               const InputSpec& spec) {
  const size_t plane = static_cast<size_t>(spec.shape.height) * spec.shape.width;
  const size_t n = std::min(input.size(), output.size());
  if (n == 0) return 0.0f;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(i / plane);
    const double a = ToPixel(input[i], spec.normalization, c) / 255.0;
    const double b = ToPixel(output[i], spec.normalization, c) / 255.0;
    sum += (a - b) * (a - b);
  }
  return static_cast<float>(sum / static_cast<double>(n));
}

}  // namespace latentsearch::encoder

#include "common/image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace latentsearch::image {
namespace {

float MeanOf(const Normalization& n, int c) { return n.mean.empty() ? 0.0f : n.mean[c]; }
float StdOf(const Normalization& n, int c) { return n.std.empty() ? 1.0f : n.std[c]; }

// Model value of channel c → pixel value (0..255 scale, unclamped).
inline float ToPixel(float x, const Normalization& n, int c) {
  return (x * StdOf(n, c) + MeanOf(n, c)) / n.scale;
}

absl::Status CheckSizeList(const std::vector<float>& values, const char* field, int channels) {
  if (values.empty() || values.size() == static_cast<size_t>(channels)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("normalization.", field, " has ", values.size(),
                                                 " entries; expected none or one per channel (",
                                                 channels, ")"));
}

// A conversion step's failure: the image itself was unusable.
absl::Status Unusable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ? s
                                                        : absl::InvalidArgumentError(s.message());
}

}  // namespace

absl::Status ValidateNormalization(const Normalization& n, int channels) {
  if (!std::isfinite(n.scale) || n.scale == 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat("normalization.scale is ", n.scale,
                                                   "; expected a finite non-zero value (0 in "
                                                   "the proto means the default 1/255)"));
  }
  if (absl::Status s = CheckSizeList(n.mean, "mean", channels); !s.ok()) return s;
  if (absl::Status s = CheckSizeList(n.std, "std", channels); !s.ok()) return s;
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

void Normalize(absl::Span<const uint8_t> hwc, const InputSpec& spec, absl::Span<float> out) {
  const int c_count = spec.channels;
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
  const Normalization& n = spec.normalization;
  const float scale = n.scale;
  const bool affine = !n.mean.empty() || !n.std.empty();
  for (int c = 0; c < c_count; ++c) {
    float* dst = out.data() + c * plane;
    const uint8_t* src = hwc.data() + c;
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

absl::Status ToModelInput(Image image, const InputSpec& spec, absl::Span<float> out) {
  if (out.size() != spec.floats_per_image()) {
    return absl::InternalError(absl::StrCat("ToModelInput: output holds ", out.size(),
                                            " floats; the model takes ", spec.floats_per_image()));
  }
  if (absl::Status s = CheckImage(image); !s.ok()) return Unusable(s);
  // As the training readers do: channels first, then size.
  if (image.channels != spec.channels) {
    absl::StatusOr<Image> converted = ToChannels(image, spec.channels);
    if (!converted.ok()) return Unusable(converted.status());
    image = *std::move(converted);
  }
  if (image.height != spec.height || image.width != spec.width) {
    absl::StatusOr<Image> resized = Resize(image, spec.height, spec.width);
    if (!resized.ok()) return Unusable(resized.status());
    image = *std::move(resized);
  }
  if (image.num_bytes() != spec.floats_per_image()) {
    return absl::InternalError(absl::StrCat("conversion to ", spec.height, "x", spec.width, "x",
                                            spec.channels, " produced ", image.height, "x",
                                            image.width, "x", image.channels));
  }
  Normalize(image.pixels, spec, out);
  return absl::OkStatus();
}

void ToPixels(absl::Span<const float> chw, const InputSpec& spec, absl::Span<uint8_t> hwc) {
  const int c_count = spec.channels;
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
  for (int c = 0; c < c_count; ++c) {
    const float* src = chw.data() + c * plane;
    for (size_t p = 0; p < plane; ++p) {
      const float v = std::nearbyint(ToPixel(src[p], spec.normalization, c));
      const float clamped = std::isnan(v) ? 0.0f : std::min(255.0f, std::max(0.0f, v));
      hwc[p * c_count + c] = static_cast<uint8_t>(clamped);
    }
  }
}

float PixelMse(absl::Span<const float> input, absl::Span<const float> output,
               const InputSpec& spec) {
  const size_t plane = static_cast<size_t>(spec.height) * spec.width;
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

}  // namespace latentsearch::image

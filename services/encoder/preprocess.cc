#include "services/encoder/preprocess.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/image/image.h"

namespace latentsearch::encoder {
namespace {

absl::Status Bad(size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("image ", index, ": ", what));
}

// `s` with "image <index>: " before its message, code kept.
absl::Status Prefixed(size_t index, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("image ", index, ": ", s.message()));
}

// OK when `raw`'s fields describe a usable image (sides 1..kMaxImageSide,
// 1 or 3 channels, a pixel buffer of exactly height × width × channels).
absl::Status CheckRaw(const v1::RawImage& raw, size_t index) {
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
  return absl::OkStatus();
}

absl::Span<const uint8_t> PixelBytes(const v1::RawImage& raw) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(raw.pixels().data()),
                             raw.pixels().size());
}

bool HasShape(const v1::RawImage& raw, const image::InputSpec& spec) {
  return raw.height() == static_cast<uint32_t>(spec.height) &&
         raw.width() == static_cast<uint32_t>(spec.width) &&
         raw.channels() == static_cast<uint32_t>(spec.channels);
}

// The pixels of a checked `raw` as an image::Image (a copy).
image::Image FromRaw(const v1::RawImage& raw) {
  image::Image img;
  img.height = static_cast<int>(raw.height());
  img.width = static_cast<int>(raw.width());
  img.channels = static_cast<int>(raw.channels());
  img.pixels.assign(raw.pixels().begin(), raw.pixels().end());
  return img;
}

// The pixels of request image `index`: raw (checked) or decoded.
absl::StatusOr<image::Image> ToImage(const v1::Image& image, size_t index) {
  switch (image.source_case()) {
    case v1::Image::kRaw:
      if (absl::Status s = CheckRaw(image.raw(), index); !s.ok()) return s;
      return FromRaw(image.raw());
    case v1::Image::kEncoded: {
      if (image.encoded().empty()) {
        return Bad(index, "encoded bytes are empty; expected a PNG or JPEG file");
      }
      absl::StatusOr<image::Image> decoded = image::Decode(image.encoded(), 0);
      if (!decoded.ok()) return Prefixed(index, decoded.status());
      return decoded;
    }
    default:
      return Bad(index, "no pixels: set either `encoded` (PNG/JPEG bytes) or `raw`");
  }
}

}  // namespace

image::InputSpec InputSpecOf(const model::CheckpointMetadata& metadata) {
  const model::InputShape& shape = metadata.input_shape;
  return image::InputSpec(shape.height, shape.width, shape.channels, metadata.normalization);
}

absl::Status PreprocessImage(const v1::Image& image, size_t index, const image::InputSpec& spec,
                             absl::Span<float> out) {
  if (out.size() != spec.floats_per_image()) {
    return absl::InternalError(absl::StrCat("PreprocessImage: output holds ", out.size(),
                                            " floats; the model takes ", spec.floats_per_image()));
  }
  // A raw image already in the model's shape: no copy.
  if (image.source_case() == v1::Image::kRaw && HasShape(image.raw(), spec) &&
      CheckRaw(image.raw(), index).ok()) {
    image::Normalize(PixelBytes(image.raw()), spec, out);
    return absl::OkStatus();
  }
  absl::StatusOr<image::Image> img = ToImage(image, index);
  if (!img.ok()) return img.status();
  if (absl::Status s = image::ToModelInput(*std::move(img), spec, out); !s.ok()) {
    return Prefixed(index, s);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> PreprocessImages(
    const google::protobuf::RepeatedPtrField<v1::Image>& images, const image::InputSpec& spec,
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

void ToRawImage(absl::Span<const float> chw, const image::InputSpec& spec, v1::RawImage* out) {
  out->set_height(spec.height);
  out->set_width(spec.width);
  out->set_channels(spec.channels);
  std::string* pixels = out->mutable_pixels();
  pixels->resize(spec.floats_per_image());
  image::ToPixels(chw, spec,
                  absl::MakeSpan(reinterpret_cast<uint8_t*>(pixels->data()), pixels->size()));
}

}  // namespace latentsearch::encoder

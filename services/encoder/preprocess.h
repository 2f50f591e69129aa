// Images as clients send them (v1::Image: PNG/JPEG bytes or raw HWC uint8)
// → the model's input: converted to its channel count (grey↔RGB), resized
// to its height × width, laid out C × H × W and scaled exactly as in
// training (x = p × scale, then (x − mean[c]) / std[c] when given; the
// default scale 1/255 reproduces data::NormalizeRange bit for bit). And
// back: model outputs → RawImage pixels, and the reconstruction error in
// [0, 1] pixel units.
//
// No LibTorch, no gRPC (protobuf messages only). Errors are
// INVALID_ARGUMENT naming the image's index in the request (decoding an
// image larger than image::kMaxDecodePixels keeps RESOURCE_EXHAUSTED).
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_ENCODER_PREPROCESS_H_
#define LATENTSEARCH_SERVICES_ENCODER_PREPROCESS_H_

#include <cstddef>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/model/checkpoint.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::encoder {

// RawImage height and width limits (common.proto).
inline constexpr int kMaxImageSide = 4096;

// What a model takes.
struct InputSpec {
  model::InputShape shape;             // channels 1 or 3.
  model::Normalization normalization;  // As in the checkpoint's metadata.

  size_t floats_per_image() const {
    return static_cast<size_t>(shape.height) * shape.width * shape.channels;
  }
};

// OK when `n` suits a model with `channels` channels: scale finite and not
// 0, mean and std empty or one entry per channel, std entries finite and
// non-zero. INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateNormalization(const model::Normalization& n, int channels);

// Image `index` of a request → floats_per_image() floats (C × H × W) in
// `out`. INVALID_ARGUMENT "image <index>: ..." for no source, undecodable
// bytes, zero or over-4096 sides, channels not 1 or 3, or a pixel buffer
// whose length is not height × width × channels.
absl::Status PreprocessImage(const v1::Image& image, size_t index, const InputSpec& spec,
                             absl::Span<float> out);

// Every image of a request, n × C × H × W floats. INVALID_ARGUMENT for no
// images, more than `max_images`, or any bad image (the first, by index).
absl::StatusOr<std::vector<float>> PreprocessImages(
    const google::protobuf::RepeatedPtrField<v1::Image>& images, const InputSpec& spec,
    size_t max_images);

// A model output (C × H × W floats in the normalised space) as pixels:
// un-normalised, rounded and clamped to [0, 255], HWC.
void ToRawImage(absl::Span<const float> chw, const InputSpec& spec, v1::RawImage* out);

// Mean squared error between an input and its reconstruction (both
// C × H × W, normalised) in [0, 1] pixel units (p / 255), before rounding.
float PixelMse(absl::Span<const float> input, absl::Span<const float> output,
               const InputSpec& spec);

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_PREPROCESS_H_

// An image → a model's input, exactly as the trainer feeds it, and back:
// converted to the model's channel count (grey↔RGB), resized to its
// height × width, laid out C × H × W and scaled as in training
// (x = p × scale, then (x − mean[c]) / std[c] when given; the default scale
// 1/255 reproduces data::NormalizeRange bit for bit). And back: model
// outputs → HWC pixels, and the reconstruction error in [0, 1] pixel units.
//
// Used by the encoder (services/encoder/preprocess.h wraps it for v1::Image
// requests) and meant for the HTTP gateway too: no protos, no LibTorch, no
// gRPC.
// Thread-safety: pure functions; InputSpec and Normalization are values.
#ifndef LATENTSEARCH_COMMON_IMAGE_PREPROCESS_H_
#define LATENTSEARCH_COMMON_IMAGE_PREPROCESS_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/image/image.h"

namespace latentsearch::image {

// x = (pixel × scale − mean[c]) / std[c]; empty mean/std mean 0/1. The same
// fields as a checkpoint's model::Normalization.
struct Normalization {
  float scale = 1.0f / 255.0f;
  std::vector<float> mean;
  std::vector<float> std;
};

// What a model takes: height × width × channels (channels 1 or 3) and the
// normalisation it was trained with.
struct InputSpec {
  InputSpec() = default;
  InputSpec(int height, int width, int channels, Normalization normalization = {})
      : height(height), width(width), channels(channels), normalization(std::move(normalization)) {}

  int height = 0;
  int width = 0;
  int channels = 0;
  Normalization normalization;

  size_t floats_per_image() const { return static_cast<size_t>(height) * width * channels; }
};

// OK when `n` suits a model with `channels` channels: scale finite and not
// 0, mean and std empty or one entry per channel, std entries finite and
// non-zero. INVALID_ARGUMENT naming the field otherwise.
absl::Status ValidateNormalization(const Normalization& n, int channels);

// Pixels already in the model's shape → its input. `hwc`: height × width ×
// channels bytes of `spec`, HWC; `out`: spec.floats_per_image() floats,
// C × H × W. Without mean/std this is exactly data::NormalizeRange's
// float(p) × scale. Sizes are the caller's contract (not checked).
void Normalize(absl::Span<const uint8_t> hwc, const InputSpec& spec, absl::Span<float> out);

// `image` → spec.floats_per_image() floats (C × H × W) in `out`: channels
// converted first, then resized (as the training readers do), then
// normalised. INVALID_ARGUMENT when `image` is malformed (see CheckImage)
// or cannot be converted; INTERNAL when `out` has the wrong size.
absl::Status ToModelInput(Image image, const InputSpec& spec, absl::Span<float> out);

// A model output (C × H × W floats in the normalised space) as pixels:
// un-normalised, rounded and clamped to [0, 255], written HWC to `hwc`
// (spec.floats_per_image() bytes; sizes are the caller's contract).
void ToPixels(absl::Span<const float> chw, const InputSpec& spec, absl::Span<uint8_t> hwc);

// Mean squared error between an input and its reconstruction (both
// C × H × W, normalised) in [0, 1] pixel units (p / 255), before rounding.
float PixelMse(absl::Span<const float> input, absl::Span<const float> output,
               const InputSpec& spec);

}  // namespace latentsearch::image

#endif  // LATENTSEARCH_COMMON_IMAGE_PREPROCESS_H_

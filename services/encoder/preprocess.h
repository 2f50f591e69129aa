// The encoder's side of preprocessing: request images (v1::Image: PNG/JPEG
// bytes or raw HWC uint8) → the model's input, and model outputs →
// v1::RawImage. A thin layer over common/image/preprocess.h, which does
// the conversion itself (channels, resize, training normalisation); this
// file checks the proto fields, decodes, names the image's index in errors
// and takes a checkpoint's metadata to an image::InputSpec.
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
#include "common/image/preprocess.h"
#include "common/model/checkpoint.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::encoder {

// RawImage height and width limits (common.proto).
inline constexpr int kMaxImageSide = 4096;

// What the model of `metadata` takes.
image::InputSpec InputSpecOf(const model::CheckpointMetadata& metadata);

// Image `index` of a request → floats_per_image() floats (C × H × W) in
// `out`. INVALID_ARGUMENT "image <index>: ..." for no source, undecodable
// bytes, zero or over-4096 sides, channels not 1 or 3, or a pixel buffer
// whose length is not height × width × channels.
absl::Status PreprocessImage(const v1::Image& image, size_t index, const image::InputSpec& spec,
                             absl::Span<float> out);

// Every image of a request, n × C × H × W floats. INVALID_ARGUMENT for no
// images, more than `max_images`, or any bad image (the first, by index).
absl::StatusOr<std::vector<float>> PreprocessImages(
    const google::protobuf::RepeatedPtrField<v1::Image>& images, const image::InputSpec& spec,
    size_t max_images);

// A model output (C × H × W floats in the normalised space) as a RawImage
// of the model's shape (image::ToPixels: un-normalised, rounded, clamped).
void ToRawImage(absl::Span<const float> chw, const image::InputSpec& spec, v1::RawImage* out);

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_PREPROCESS_H_

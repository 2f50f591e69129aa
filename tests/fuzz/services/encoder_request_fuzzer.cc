// Encoder request validation on arbitrary proto bytes: image preprocessing
// of Encode/Reconstruct requests (services/encoder/preprocess.h over
// common/image/preprocess.h) and the
// PushCheckpoint stream receiver (model_registry.h: metadata validation,
// size limit, hashing as chunks arrive).
//
// Input: u8 kind | body.
//   kind % 2 == 0: body is an EncodeRequest; the images are preprocessed for
//     one of three model inputs ((kind >> 1) % 3).
//   kind % 2 == 1: body is a PushCheckpoint stream: u32 len | CheckpointChunk
//     bytes, repeated. With bit1 set the first metadata message's sha256 and
//     size_bytes are made to match the data chunks, so Finish can succeed.
// Nothing may crash; bad requests are INVALID_ARGUMENT (RESOURCE_EXHAUSTED
// for over-limit sizes, DATA_LOSS for weights not matching the metadata);
// what is accepted must verify.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/image/preprocess.h"
#include "common/model/checkpoint.h"
#include "google/protobuf/stubs/logging.h"
#include "latentsearch/v1/encoder.pb.h"
#include "services/encoder/model_registry.h"
#include "services/encoder/preprocess.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch;
using latentsearch::fuzz::Input;
using latentsearch::fuzz::Violation;

constexpr size_t kMaxImages = 8;
constexpr uint64_t kMaxPushBytes = 1 << 20;

void CheckCode(const absl::Status& s, const char* what,
               std::initializer_list<absl::StatusCode> allowed) {
  if (s.ok()) return;
  for (absl::StatusCode c : allowed) {
    if (s.code() == c) return;
  }
  Violation(absl::StrCat(what, ": unexpected ", s.ToString()));
}

image::InputSpec Spec(int which) {
  image::InputSpec spec;
  switch (which) {
    case 0:
      spec = image::InputSpec(28, 28, 1);
      break;
    case 1:
      spec = image::InputSpec(32, 32, 3);
      break;
    default:
      spec = image::InputSpec(8, 16, 3);
      spec.normalization.mean = {0.5f, 0.4f, 0.3f};
      spec.normalization.std = {0.2f, 0.25f, 0.3f};
      break;
  }
  return spec;
}

void Encode(uint8_t kind, const std::string& body) {
  v1::EncodeRequest request;
  if (!request.ParseFromString(body)) return;
  const image::InputSpec spec = Spec((kind >> 1) % 3);
  absl::StatusOr<std::vector<float>> floats =
      encoder::PreprocessImages(request.images(), spec, kMaxImages);
  CheckCode(floats.status(), "PreprocessImages",
            {absl::StatusCode::kInvalidArgument, absl::StatusCode::kResourceExhausted});
  if (!floats.ok()) return;
  const size_t per = spec.floats_per_image();
  if (floats->size() != static_cast<size_t>(request.images_size()) * per) {
    Violation("PreprocessImages returned the wrong number of floats");
  }
  for (float f : *floats) {
    if (!std::isfinite(f)) Violation("PreprocessImages produced a non-finite value");
  }
  absl::Span<const float> first(floats->data(), per);
  v1::RawImage raw;
  encoder::ToRawImage(first, spec, &raw);
  if (raw.pixels().size() != per) Violation("ToRawImage: wrong pixel count");
  if (image::PixelMse(first, first, spec) != 0.0f) Violation("PixelMse(x, x) != 0");
}

void Push(uint8_t kind, const std::string& body) {
  Input in(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  std::vector<v1::CheckpointChunk> chunks;
  while (!in.empty() && chunks.size() < 64) {
    v1::CheckpointChunk chunk;
    if (!chunk.ParseFromString(in.LengthPrefixed())) return;
    chunks.push_back(std::move(chunk));
  }
  if (kind & 2) {
    std::string weights;
    for (const v1::CheckpointChunk& c : chunks) {
      if (c.has_data()) weights += c.data();
    }
    for (v1::CheckpointChunk& c : chunks) {
      if (c.has_metadata()) {
        c.mutable_metadata()->set_sha256(model::Sha256Hex(weights));
        c.mutable_metadata()->set_size_bytes(weights.size());
        break;
      }
    }
  }
  encoder::CheckpointReceiver receiver(kMaxPushBytes);
  for (const v1::CheckpointChunk& c : chunks) {
    absl::Status s = receiver.Add(c);
    CheckCode(s, "CheckpointReceiver::Add",
              {absl::StatusCode::kInvalidArgument, absl::StatusCode::kResourceExhausted,
               absl::StatusCode::kDataLoss});
    if (!s.ok()) return;
  }
  absl::StatusOr<model::Checkpoint> checkpoint = receiver.Finish();
  CheckCode(checkpoint.status(), "CheckpointReceiver::Finish",
            {absl::StatusCode::kInvalidArgument, absl::StatusCode::kDataLoss});
  if (!checkpoint.ok()) return;
  if (checkpoint->weights.size() > kMaxPushBytes) Violation("push over the size limit accepted");
  if (!model::VerifyWeights(checkpoint->metadata, checkpoint->weights, "fuzz").ok()) {
    Violation("an accepted push does not verify");
  }
  model::CheckpointMetadata m = checkpoint->metadata;
  if (absl::Status s = encoder::ValidateMetadata(&m); !s.ok()) {
    Violation("accepted metadata fails ValidateMetadata again: " + s.ToString());
  }
  // The registry stores what it accepts; a restart must read it back.
  absl::StatusOr<std::string> file = model::EncodeCheckpoint(*checkpoint);
  if (!file.ok()) Violation("an accepted push cannot be stored: " + file.status().ToString());
  absl::StatusOr<model::Checkpoint> back = model::DecodeCheckpoint(*file, "fuzz");
  if (!back.ok()) Violation("a stored push does not read back: " + back.status().ToString());
  model::CheckpointMetadata m2 = back->metadata;
  if (absl::Status s = encoder::ValidateMetadata(&m2); !s.ok()) {
    Violation("a stored push's metadata fails validation after reading back: " + s.ToString());
  }
  if (m2.model_name != m.model_name || m2.architecture != m.architecture ||
      m2.latent_size != m.latent_size || m2.input_shape != m.input_shape || m2.sha256 != m.sha256 ||
      m2.size_bytes != m.size_bytes) {
    Violation("a stored push reads back with different metadata");
  }
}

}  // namespace

// Invalid UTF-8 in string fields is a parse failure; protobuf also logs
// each one, which would drown libFuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    Encode(data[0], body);
  } else {
    Push(data[0], body);
  }
  return 0;
}

// What a model is, without LibTorch: the input shape, the spec that names an
// architecture, its validation against each architecture's limits, the
// formulations of the transposed convolutions, and the `--describe` table
// (ModelSummary and FormatSummary; Describe itself builds the model and
// lives in model.h). Linked as ls_model_spec, which needs no LibTorch, so
// clients and torch-free tools can parse and check specs.
//
// Thread-safety: every function here is thread-safe (no mutable state).
#ifndef LATENTSEARCH_COMMON_MODEL_MODEL_SPEC_H_
#define LATENTSEARCH_COMMON_MODEL_MODEL_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::model {

// A model's input: height × width × channels (channels 1 or 3).
struct InputShape {
  int height = 0;
  int width = 0;
  int channels = 0;

  bool operator==(const InputShape& o) const {
    return height == o.height && width == o.width && channels == o.channels;
  }
  bool operator!=(const InputShape& o) const { return !(*this == o); }
};

// "32x32x3".
std::string FormatInputShape(const InputShape& shape);
// Parses "HxWxC" (also "HxW", meaning C = 3). INVALID_ARGUMENT otherwise.
absl::StatusOr<InputShape> ParseInputShape(absl::string_view text);

// What to build. Zero values mean the architecture's defaults.
struct ModelSpec {
  // A name from ArchitectureNames(); "" = kDefaultArchitecture.
  std::string architecture;
  // Embedding length 1..4096; 0 = the architecture's default (10).
  int latent_size = 0;
  // The input the model takes; must suit the architecture (see
  // ValidateSpec). Zero fields = 32×32×3.
  InputShape input;
};

inline constexpr char kDefaultArchitecture[] = "conv";
inline constexpr int kMaxLatentSize = 4096;

// Registered architecture names, sorted. (Each has a builder in
// architectures.cc; model_test checks that every name builds.)
std::vector<std::string> ArchitectureNames();

// `spec` with defaults filled in (architecture, latent size, input shape).
ModelSpec WithDefaults(const ModelSpec& spec);

// OK when WithDefaults(spec) can be built. INVALID_ARGUMENT naming the field
// ("architecture", "latent_size", "input_shape") and what is allowed:
// unknown architectures list the known ones; seed needs height and width
// that are multiples of 16 (16..256); conv and resnet need 8..1024; channels 1 or 3.
absl::Status ValidateSpec(const ModelSpec& spec);

// How the seed architecture's transposed convolutions are computed. All
// compute the same function with the same parameters (a checkpoint loads into
// any of them); tests/unit/model proves equal outputs and gradients.
enum class Formulation {
  // ConvTranspose2d (padding 0, then the last row and column cropped: Keras
  // "same" alignment) followed by ELU and MaxPool2d — the reference. Runs
  // LibTorch's im2col + BLAS transposed convolution.
  kPlain,
  // Each k3 s2 transposed convolution as one Conv2d with 2×2 kernels and
  // 4·Cout outputs (one per output phase; 16 taps where 9 are non-zero) on
  // the input padded at the top and left. The decoder pixel-shuffles the
  // phases; the encoder takes their maximum (PhaseMax = MaxPool2d 2 of the
  // upsampled map) before ELU (increasing, so it commutes with max), so
  // the 4× larger map is never built. Runs on oneDNN.
  kPhaseConv,
  // The four phases as four exact convolutions (2×2, 2×1, 1×2, 1×1 kernels:
  // the 9 real taps) on the unpadded input, their maximum read in place
  // (PhaseMax4). The fastest for seed on CPU (docs/training.md); default.
  // The decoder's (small) layers use kPhaseConv.
  kPhaseSplit,
};

// "plain", "phase_conv", "phase_split"; and the inverse (INVALID_ARGUMENT).
absl::string_view FormulationName(Formulation f);
absl::StatusOr<Formulation> ParseFormulation(absl::string_view name);

// One row of a model summary.
struct LayerInfo {
  std::string part;  // "encoder" or "decoder".
  std::string name;  // Parameter-name prefix, e.g. "conv_transpose2d_1".
  std::string kind;  // Human-readable, e.g. "ConvTranspose2d 3→32 k3 s2 same, ELU".
  std::vector<int64_t> output_shape;  // Per image, (C, H, W) or (features).
  int64_t parameters = 0;
  int64_t macs = 0;  // Multiply-adds per image, forward.
};

struct ModelSummary {
  ModelSpec spec;  // With defaults filled in.
  std::vector<LayerInfo> layers;
  int64_t encoder_parameters = 0;
  int64_t decoder_parameters = 0;
  int64_t encoder_macs = 0;
  int64_t decoder_macs = 0;
};

// The summary as a table like Keras' model.summary(): layer, output shape,
// parameters, multiply-adds; totals per encoder and decoder.
std::string FormatSummary(const ModelSummary& summary);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_MODEL_SPEC_H_

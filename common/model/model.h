// Autoencoder architectures selected by name, their summaries, and a Model
// handle that hides LibTorch: this header includes no torch headers, so the
// CLI, the gRPC adapters and main() can use it cheaply. Code that trains
// (services/trainer) reaches the torch modules through torch_model.h.
//
// Architectures (ArchitectureNames()):
//   "conv" (default) — three stride-2 Conv2d + ELU layers (32, 64, 128
//          filters), Flatten, Linear → latent; the decoder mirrors it with
//          Linear, reshape and three stride-2 "same" transposed convolutions
//          (ELU, ELU, none). ~77× fewer multiply-adds per image than seed.
//   "resnet" — a small residual net for the contrastive objective: stem
//          Conv2d k3 → 32 (BatchNorm, ReLU), three stride-2 basic blocks
//          (64, 128, 256 filters; two Conv2d k3 + BatchNorm, 1×1 shortcut),
//          global average pooling, Linear → latent; decoder as conv's.
//   "resnet_small" — the same with half the filters (16 … 128).
//   "seed" — the original design, reproduced exactly (parameter counts and
//          Keras "same" alignment): encoder 4 × [ConvTranspose2d k3 s2 same +
//          ELU → MaxPool2d 2] with 32/64/128/256 filters, Flatten, Linear →
//          latent; decoder Linear → (H/16)·(W/16)·256, reshape,
//          ConvTranspose2d 128/64/32 (ELU) and C (none), each k3 s2 same.
//
// All errors are absl::Status; LibTorch exceptions are caught here.
// Thread-safety: the free functions are thread-safe. A Model is not: one
// thread at a time (training mutates it; concurrent Encode calls on one
// Model need external locking).
#ifndef LATENTSEARCH_COMMON_MODEL_MODEL_H_
#define LATENTSEARCH_COMMON_MODEL_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

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

// Registered architecture names, sorted.
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

// Builds the model (reference formulation) and traces one image through it.
// INVALID_ARGUMENT as ValidateSpec.
absl::StatusOr<ModelSummary> Describe(const ModelSpec& spec);

// The summary as a table like Keras' model.summary(): layer, output shape,
// parameters, multiply-adds; totals per encoder and decoder.
std::string FormatSummary(const ModelSummary& summary);

struct ModelOptions {
  // How seed's transposed convolutions run. conv always uses kPhaseConv
  // for its decoder (kPlain if asked, for reference tests).
  Formulation formulation = Formulation::kPhaseSplit;
  // Seeds parameter initialisation (Glorot uniform, zero biases, as Keras).
  uint64_t seed = 0;
  // Convolutions on channels-last (NHWC) tensors: faster with oneDNN on
  // CPU; the same function.
  bool channels_last = true;
  // Place the model on CUDA when LibTorch has a usable device.
  bool use_cuda_if_available = false;
};

// An autoencoder: encoder and decoder halves of one architecture.
// Thread-safety: not thread-safe (see the file comment).
class Model {
 public:
  // In inference mode (batch normalisation uses its running statistics;
  // training switches impl().net to train()). INVALID_ARGUMENT as
  // ValidateSpec; INTERNAL if LibTorch fails.
  static absl::StatusOr<std::unique_ptr<Model>> Create(const ModelSpec& spec,
                                                       const ModelOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // With defaults filled in.
  const ModelSpec& spec() const;
  int64_t encoder_parameters() const;
  int64_t decoder_parameters() const;
  // "cpu" or "cuda:N".
  std::string device() const;

  // images: n × C × H × W floats (the input shape, normalised); returns
  // n × latent_size floats: the served embeddings (the encoder's latents,
  // whitened and of unit length when the model has an embedding head).
  // INVALID_ARGUMENT for a wrongly sized span.
  absl::StatusOr<std::vector<float>> Encode(absl::Span<const float> images, size_t n);
  // latents: n × latent_size floats (the encoder's latents, which are
  // Encode's output only without an embedding head); returns n × C × H × W
  // floats. FAILED_PRECONDITION for an encoder-only model (see LoadWeights).
  absl::StatusOr<std::vector<float>> Decode(absl::Span<const float> latents, size_t n);

  // The weights as bytes (a LibTorch archive of every parameter by name),
  // the blob a checkpoint carries.
  absl::StatusOr<std::string> SerializeWeights() const;
  // All but the decoder's parameters and buffers ("encoder.*" and any
  // "embedding.*"): a checkpoint
  // for models whose decoder was never trained (contrastive training
  // without a reconstruction term).
  absl::StatusOr<std::string> SerializeEncoderWeights() const;
  // Embedding whitening: encodes `images` (n ≥ 2, as Encode) and installs
  // an embedding head fitted to their latents (FitWhitening in
  // torch_model.h): from then on Encode returns the latents centred,
  // PCA-whitened with `shrinkage` (> 0; 0.1 is the trainer's default) and
  // scaled to unit length. With `mirror` the latent of an image is first
  // averaged with that of its mirror image (left-right; twice the encoder's
  // work), for models trained to be invariant to flips. Decode is unchanged
  // (it takes encoder latents). The head is part of the weights
  // (SerializeWeights and SerializeEncoderWeights carry it).
  // INVALID_ARGUMENT for bad sizes or shrinkage; FAILED_PRECONDITION when
  // the latents are not finite.
  absl::Status FitEmbeddingWhitening(absl::Span<const float> images, size_t n, double shrinkage,
                                     bool mirror);
  bool has_embedding_head() const;

  // Loads bytes from SerializeWeights() of a model with the same spec.
  // Bytes from SerializeEncoderWeights() (no "decoder.*" entries) load the
  // encoder and drop the decoder: decoder_parameters() is then 0 and Decode
  // answers FAILED_PRECONDITION. Bytes with "embedding.mean",
  // "embedding.projection" and "embedding.mirror" install an embedding head
  // (see FitEmbeddingWhitening); bytes without remove one.
  // INVALID_ARGUMENT when a parameter is missing or has another shape,
  // DATA_LOSS when the bytes are not an archive.
  absl::Status LoadWeights(absl::string_view bytes);

  // The torch side; defined in torch_model.h.
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets LibTorch's intra-op threads for the *calling* thread's parallel
// regions (OpenMP keeps this per thread: call it on the thread that runs the
// model) and OpenBLAS's pool. 0 = the number of cores for intra-op; for BLAS
// 0 = 1 (ATen calls BLAS outside its own parallel regions; two spinning
// pools on two cores are several times slower). Returns what was set.
struct ThreadSettings {
  int intra_op = 0;
  int blas = 0;
};
ThreadSettings SetThreads(int intra_op, int blas = 0);

// Makes glibc malloc keep large blocks in the heap instead of mmap/munmap
// per allocation: training allocates and frees tensors of 30+ MB every step
// (above glibc's largest dynamic mmap threshold, 32 MiB), and each fresh
// mapping costs page faults on first touch — measured at a quarter of seed's
// step time. A process-wide setting: call it from main() of a training
// process (latentsearch-trainer, benchmarks), not from libraries.
void TuneAllocatorForTraining();

// True when LibTorch was built with CUDA and sees a device.
bool CudaAvailable();

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_MODEL_H_

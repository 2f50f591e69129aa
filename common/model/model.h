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
// This header is the module's facade: it includes model_spec.h (specs,
// validation, the summary table; torch-free, ls_model_spec) and runtime.h
// (thread and allocator tuning), so callers need only this one.
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
#include "common/model/model_spec.h"  // IWYU pragma: export
#include "common/model/runtime.h"     // IWYU pragma: export

namespace latentsearch::model {

// Builds the model (reference formulation) and traces one image through it.
// INVALID_ARGUMENT as ValidateSpec.
absl::StatusOr<ModelSummary> Describe(const ModelSpec& spec);

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

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_MODEL_H_

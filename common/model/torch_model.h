// The LibTorch side of model.h, for the few .cc files that train or run
// models on tensors (common/model, the trainer and encoder cores). Including
// this header costs ~20 s of compile time per translation unit: never include
// it from a header, a gRPC adapter or a main().
//
// Functions here throw LibTorch exceptions (c10::Error); callers catch them
// at their own boundary and convert to absl::Status.
// Thread-safety: as model.h.
#ifndef LATENTSEARCH_COMMON_MODEL_TORCH_MODEL_H_
#define LATENTSEARCH_COMMON_MODEL_TORCH_MODEL_H_

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/model/model.h"

namespace latentsearch::model {

// One logical layer of a LayerStack: an optional parameterised module, how
// to run it, and how many multiply-adds it costs per image.
struct Layer {
  std::string name;                           // Registered module name (the parameters' prefix).
  std::string kind;                           // Shown in summaries.
  std::shared_ptr<torch::nn::Module> module;  // nullptr for ELU, pool, ...
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  // (input shape, output shape) per image → multiply-adds per image.
  std::function<int64_t(const std::vector<int64_t>&, const std::vector<int64_t>&)> macs;
};

// A sequence of Layers; parameters are registered under each layer's name.
class LayerStackImpl : public torch::nn::Module {
 public:
  void Add(Layer layer);
  torch::Tensor forward(torch::Tensor x);
  const std::vector<Layer>& layers() const { return layers_; }
  std::vector<Layer>& mutable_layers() { return layers_; }
  // Converts a 4-D input to `format` first (e.g. channels-last).
  void SetInputFormat(torch::MemoryFormat format) { input_format_ = format; }

 private:
  std::vector<Layer> layers_;
  std::optional<torch::MemoryFormat> input_format_;
};
TORCH_MODULE(LayerStack);

// The served embedding's head (an "embedding" submodule, present only in
// models fitted with Model::FitEmbeddingWhitening): buffers "mean"
// (latent), "projection" (latent × latent) and "mirror" (one value, 0 or
// 1). apply(z) = normalize((z − mean) · projection): the latent centred,
// PCA-whitened and scaled to unit length; with mirror = 1, z is the mean of
// the latents of the image and of its mirror image (left-right).
class EmbeddingHeadImpl : public torch::nn::Module {
 public:
  explicit EmbeddingHeadImpl(int64_t latent);
  torch::Tensor apply(const torch::Tensor& z);
  bool mirrored() const { return mirror.item<float>() != 0; }
  torch::Tensor mean, projection, mirror;
};
TORCH_MODULE(EmbeddingHead);

// An autoencoder: "encoder" and "decoder" submodules, and an optional
// "embedding" head.
// encode: N × C × H × W → N × latent (the decoder's input);
// decode: N × latent → N × C × H × W;
// embed: N × C × H × W → N × latent, the served embedding (encode(x)
// without a head).
class AutoencoderImpl : public torch::nn::Module {
 public:
  AutoencoderImpl(LayerStack encoder, LayerStack decoder);
  torch::Tensor encode(const torch::Tensor& x) { return encoder->forward(x); }
  // Contiguous (NCHW) whatever layout the layers ran in.
  torch::Tensor decode(const torch::Tensor& z) { return decoder->forward(z).contiguous(); }
  torch::Tensor forward(const torch::Tensor& x) { return decode(encode(x)); }
  // The served embedding of x; when `latent` is not null it receives
  // encode(x) (for Reconstruct, without a second pass).
  torch::Tensor embed(const torch::Tensor& x, torch::Tensor* latent = nullptr);
  // encode(x), or with `mirror` the mean of encode(x) and encode of x
  // mirrored (one pass over both); `latent` as in embed.
  torch::Tensor pooled_latent(const torch::Tensor& x, bool mirror, torch::Tensor* latent = nullptr);

  // Installs a head with these buffers (replacing any): mean latent,
  // projection latent × latent, mirror as in EmbeddingHeadImpl.
  void SetEmbeddingHead(const torch::Tensor& mean, const torch::Tensor& projection, bool mirror);
  void ClearEmbeddingHead();

  LayerStack encoder;
  LayerStack decoder;
  EmbeddingHead head{nullptr};
};
TORCH_MODULE(Autoencoder);

// PCA whitening of latents (n × d, n ≥ 2, finite): mean and projection =
// U · diag((λ + shrinkage · mean(λ))^(−1/2)) from the eigendecomposition
// U diag(λ) Uᵀ of their covariance, computed in double precision and
// returned as float on the latents' device. shrinkage > 0 bounds the gain
// of directions the latents barely use (0.1 measured best on
// Fashion-MNIST, docs/training.md). Latents without variance get the
// identity projection.
std::pair<torch::Tensor, torch::Tensor> FitWhitening(const torch::Tensor& latents,
                                                     double shrinkage);

// ConvTranspose2d(kernel 3, stride 2) with Keras padding="same" alignment:
// the output is exactly 2H × 2W and equals PyTorch's padding-0 result with
// its last row and column cropped (TF pads the forward convolution at the
// bottom/right only, so the adjoint drops the bottom/right extra). PyTorch's
// padding=1, output_padding=1 gives the same size but is shifted by one.
// Parameters as torch::nn::ConvTranspose2d: weight Cin × Cout × 3 × 3, bias.
class SameConvTranspose2dImpl : public torch::nn::Module {
 public:
  SameConvTranspose2dImpl(int64_t in_channels, int64_t out_channels);

  // N × Cin × H × W → N × Cout × 2H × 2W.
  torch::Tensor Upsample(const torch::Tensor& x, Formulation f);
  // MaxPool2d(2) of Upsample(x): N × Cout × H × W (before any activation;
  // ELU commutes with max because it is increasing). kPhaseConv never
  // builds the 2H × 2W map: it takes the maximum over the four phase
  // outputs with PhaseMax.
  torch::Tensor UpsampleMaxPool(const torch::Tensor& x, Formulation f);

  // The transposed convolution as one Conv2d with 2×2 kernels on x padded
  // at the top and left: N × 4·Cout × H × W holding output[2a + r][2b + s]
  // of channel c at channel c·4 + 2r + s (pixel-shuffle order) or, with
  // phase_major, at (2r + s)·Cout + c.
  // With pad_copy false the input is not copied: the convolution pads
  // symmetrically and the phases are the top-left H × W of an
  // (H+1) × (W+1) result.
  torch::Tensor PhaseConv(const torch::Tensor& x, bool phase_major, bool pad_copy = true);

  int64_t in_channels, out_channels;
  // Run the convolutions on channels-last (NHWC) tensors (oneDNN's
  // preferred layout on CPU). Same function.
  bool channels_last = false;
  torch::Tensor weight, bias;

 private:
  // Kernel Cin×Cout×3×3 → the 2×2 phase kernels, as a product with a fixed
  // 9 × 16 0/1 matrix (differentiable, cheap backward).
  torch::Tensor PhaseKernels();  // Cin × Cout × 2(r) × 2(t) × 2(s) × 2(u)
  torch::Tensor select_;         // The 9 × 16 matrix, on weight's device.

 public:
  // The four exact phase kernels Cout × Cin × kh × kw (2×2, 2×1, 1×2, 1×1),
  // each a product with a fixed 0/1 matrix (kPhaseSplit).
  std::vector<torch::Tensor> SplitKernels();

 private:
  std::vector<torch::Tensor> split_select_;
};
TORCH_MODULE(SameConvTranspose2d);

// y: N × 4C × H × W with phase p of channel c at channel p·C + c →
// N × C × H × W, the maximum over the four phases (MaxPool2d 2 of the
// upsampled map). Keeps y's memory format (contiguous or channels-last);
// the backward writes each gradient to its phase's argmax.
torch::Tensor PhaseMax(const torch::Tensor& y);

// The same over four separately computed phases (kPhaseSplit), phase p in
// phases[p], each N × C × (≥ h) × (≥ w): the top-left h × w is used, read in
// place through its strides.
torch::Tensor PhaseMax4(const std::vector<torch::Tensor>& phases, int64_t h, int64_t w);

// Builds the architecture `spec` names (spec must have passed ValidateSpec
// and carry defaults), initialised with Glorot uniform weights and zero
// biases from a generator seeded with `seed`.
Autoencoder BuildAutoencoder(const ModelSpec& spec, Formulation formulation,
                             bool channels_last = false, uint64_t seed = 0);

struct Model::Impl {
  ModelSpec spec;
  ModelOptions options;
  Autoencoder net{nullptr};
  torch::Device device{torch::kCPU};
};

// Runs a forward pass of one image through every layer, recording shapes,
// parameters and multiply-adds.
std::vector<LayerInfo> TraceLayers(AutoencoderImpl& net, const ModelSpec& spec);

// Flat archive of every named parameter and buffer (except those whose
// name starts with `exclude_prefix`, when not empty); and back (checking
// names and shapes; see Model::LoadWeights).
std::string SaveWeights(torch::nn::Module& module, absl::string_view exclude_prefix = "");
absl::Status LoadWeightsInto(torch::nn::Module& module, absl::string_view bytes);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_TORCH_MODEL_H_

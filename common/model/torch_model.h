// The LibTorch side of model.h, for the few .cc files that train or run
// models on tensors (common/model, the trainer and encoder cores). Including
// this header costs ~20 s of compile time per translation unit: never include
// it from a header, a gRPC adapter or a main().
//
// Declared here: the modules an architecture is assembled from and the
// builders (architectures.cc), Model::Impl (model.cc). Included for its
// callers: the transposed convolution (same_conv_transpose.h) and weights
// I/O (weights_io.h).
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
#include "common/model/same_conv_transpose.h"  // IWYU pragma: export
#include "common/model/weights_io.h"           // IWYU pragma: export

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

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_TORCH_MODEL_H_

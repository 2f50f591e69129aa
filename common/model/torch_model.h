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
#include <string>
#include <vector>

#include "common/model/model.h"

namespace latentsearch::model {

// One logical layer of a LayerStack: an optional parameterised module, how
// to run it, and how many multiply-adds it costs per image.
struct Layer {
  std::string name;  // Registered module name (the parameters' prefix).
  std::string kind;  // Shown in summaries.
  std::shared_ptr<torch::nn::Module> module;  // nullptr for ELU, pool, ...
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  // (input shape, output shape) per image → multiply-adds per image.
  std::function<int64_t(const std::vector<int64_t>&, const std::vector<int64_t>&)>
      macs;
};

// A sequence of Layers; parameters are registered under each layer's name.
class LayerStackImpl : public torch::nn::Module {
 public:
  void Add(Layer layer);
  torch::Tensor forward(torch::Tensor x);
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  std::vector<Layer> layers_;
};
TORCH_MODULE(LayerStack);

// An autoencoder: "encoder" and "decoder" submodules.
// encode: N × C × H × W → N × latent; decode: N × latent → N × C × H × W.
class AutoencoderImpl : public torch::nn::Module {
 public:
  AutoencoderImpl(LayerStack encoder, LayerStack decoder);
  torch::Tensor encode(const torch::Tensor& x) { return encoder->forward(x); }
  torch::Tensor decode(const torch::Tensor& z) { return decoder->forward(z); }
  torch::Tensor forward(const torch::Tensor& x) { return decode(encode(x)); }

  LayerStack encoder;
  LayerStack decoder;
};
TORCH_MODULE(Autoencoder);

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
  // ELU commutes with max because it is increasing).
  torch::Tensor UpsampleMaxPool(const torch::Tensor& x, Formulation f);

  // The four output phases (r, s) — output[2a + r][2b + s] — as
  // N × Cout × 4 × H × W, phase index 2r + s.
  torch::Tensor Phases(const torch::Tensor& x, Formulation f);

  int64_t in_channels, out_channels;
  torch::Tensor weight, bias;
};
TORCH_MODULE(SameConvTranspose2d);

// Builds the architecture `spec` names (spec must have passed ValidateSpec
// and carry defaults). Initialises with Glorot uniform weights and zero
// biases from torch's generator (seed it with torch::manual_seed first).
Autoencoder BuildAutoencoder(const ModelSpec& spec, Formulation formulation);

struct Model::Impl {
  ModelSpec spec;
  ModelOptions options;
  Autoencoder net{nullptr};
  torch::Device device{torch::kCPU};
};

// Runs a forward pass of one image through every layer, recording shapes,
// parameters and multiply-adds.
std::vector<LayerInfo> TraceLayers(AutoencoderImpl& net, const ModelSpec& spec);

// Flat archive of every named parameter and buffer; and back (checking
// names and shapes; see Model::LoadWeights).
std::string SaveWeights(torch::nn::Module& module);
absl::Status LoadWeightsInto(torch::nn::Module& module, absl::string_view bytes);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_TORCH_MODEL_H_

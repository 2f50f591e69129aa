// The architectures: the modules they are assembled from (LayerStack,
// Autoencoder, EmbeddingHead), one builder per architecture with the
// registry that selects it by name, and TraceLayers for summaries. The
// names and input limits are checked torch-free in model_spec.cc; every
// name there has a builder here (model_test builds each).
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/model/torch_model.h"

namespace latentsearch::model {
namespace {

using Shape = std::vector<int64_t>;
using torch::Tensor;

Shape PerImage(const Tensor& t) {
  Shape s(t.sizes().begin(), t.sizes().end());
  s.erase(s.begin());
  return s;
}

// Glorot (Xavier) uniform, Keras' default kernel initialiser.
void GlorotUniform(Tensor& w, int64_t fan_in, int64_t fan_out, const at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  w.uniform_(-limit, limit, gen);
}

void ZeroBias(Tensor& b) {
  torch::NoGradGuard no_grad;
  b.zero_();
}

// Multiply-adds per image of a "same" k3 s2 transposed convolution: every
// input pixel scatters Cin × Cout × 9 products.
int64_t TransposedMacs(const Shape& in, const Shape& out) {
  return in[1] * in[2] * in[0] * out[0] * 9;
}
int64_t Conv3x3Macs(const Shape& in, const Shape& out) {
  return out[1] * out[2] * out[0] * in[0] * 9;
}
int64_t LinearMacs(const Shape& in, const Shape& out) { return in[0] * out[0]; }

Layer SameConvTLayer(const std::string& name, int64_t cin, int64_t cout, bool elu, Formulation f,
                     const at::Generator& gen, int64_t crop_h = 0, int64_t crop_w = 0) {
  SameConvTranspose2d ct(cin, cout);
  GlorotUniform(ct->weight, cout * 9, cin * 9, gen);
  ZeroBias(ct->bias);
  Layer l;
  l.name = name;
  l.kind = absl::StrCat("ConvTranspose2d ", cin, "→", cout, " k3 s2 same", elu ? ", ELU" : "");
  l.module = ct.ptr();
  l.forward = [ct = ct.ptr(), elu, f, crop_h, crop_w](const Tensor& x) {
    Tensor y = ct->Upsample(x, f);
    if (crop_h > 0 && crop_h < y.size(2)) y = y.narrow(2, 0, crop_h);
    if (crop_w > 0 && crop_w < y.size(3)) y = y.narrow(3, 0, crop_w);
    return elu ? torch::elu(y) : y;
  };
  l.macs = TransposedMacs;
  return l;
}

Layer LinearLayer(const std::string& name, int64_t in, int64_t out, const at::Generator& gen) {
  torch::nn::Linear lin(in, out);
  GlorotUniform(lin->weight, in, out, gen);
  ZeroBias(lin->bias);
  Layer l;
  l.name = name;
  l.kind = absl::StrCat("Linear ", in, "→", out);
  l.module = lin.ptr();
  l.forward = [lin = lin.ptr()](const Tensor& x) { return lin->forward(x); };
  l.macs = LinearMacs;
  return l;
}

Layer FlattenLayer() {
  Layer l;
  l.name = "flatten";
  l.kind = "Flatten";
  l.forward = [](const Tensor& x) { return x.flatten(1); };
  return l;
}

Layer ReshapeLayer(int64_t c, int64_t h, int64_t w) {
  Layer l;
  l.name = "reshape";
  l.kind = absl::StrCat("Reshape (", c, ", ", h, ", ", w, ")");
  l.forward = [c, h, w](const Tensor& x) { return x.view({x.size(0), c, h, w}); };
  return l;
}

// Height and width of the input (index 0) and after each of three stride-2
// stages, rounded up: [i] = ceil([i - 1] / 2).
struct StageSizes {
  int64_t h[4], w[4];
};

StageSizes HalvedSizes(const InputShape& input) {
  StageSizes s = {{input.height}, {input.width}};
  for (int i = 1; i < 4; ++i) {
    s.h[i] = (s.h[i - 1] + 1) / 2;
    s.w[i] = (s.w[i - 1] + 1) / 2;
  }
  return s;
}

// The conv and resnet decoder: Linear latent → cin × H/8 × W/8, reshape,
// then three "same" k3 s2 transposed convolutions to `filters` (ELU after
// the first two), each cropped to the encoder's size at its stage for odd
// inputs.
LayerStack CroppingDecoder(const ModelSpec& spec, int64_t cin, const int64_t (&filters)[3],
                           const StageSizes& s, Formulation f, const at::Generator& gen) {
  LayerStack dec;
  dec->Add(LinearLayer("dense", spec.latent_size, cin * s.h[3] * s.w[3], gen));
  dec->Add(ReshapeLayer(cin, s.h[3], s.w[3]));
  for (int i = 0; i < 3; ++i) {
    Layer l = SameConvTLayer("conv_transpose2d_" + std::to_string(i + 1), cin, filters[i],
                             /*elu=*/i < 2, f, gen, s.h[2 - i], s.w[2 - i]);
    if (2 * s.h[3 - i] != s.h[2 - i] || 2 * s.w[3 - i] != s.w[2 - i]) {
      l.kind += absl::StrCat(", cropped to ", s.h[2 - i], "x", s.w[2 - i]);
    }
    dec->Add(std::move(l));
    cin = filters[i];
  }
  return dec;
}

// The seed: 4 × [ConvTranspose2d k3 s2 same + ELU → MaxPool2d 2] with
// 32/64/128/256 filters, Flatten, Linear; decoder Linear, reshape,
// ConvTranspose2d 128/64/32 (ELU), C (none).
Autoencoder BuildSeed(const ModelSpec& spec, Formulation f, const at::Generator& gen) {
  const int64_t c = spec.input.channels;
  const int64_t h = spec.input.height, w = spec.input.width;
  const int64_t filters[] = {32, 64, 128, 256};
  LayerStack enc;
  int64_t cin = c;
  for (int i = 0; i < 4; ++i) {
    const std::string idx = std::to_string(i + 1);
    if (f == Formulation::kPlain) {
      enc->Add(SameConvTLayer("conv_transpose2d_" + idx, cin, filters[i],
                              /*elu=*/true, f, gen));
      Layer pool;
      pool.name = "max_pooling2d_" + idx;
      pool.kind = "MaxPool2d 2";
      pool.forward = [](const Tensor& x) { return torch::max_pool2d(x, 2); };
      enc->Add(std::move(pool));
    } else {
      // ConvTranspose + ELU + MaxPool fused: max over the four output phases,
      // then ELU (increasing, so it commutes with max).
      Layer fused = SameConvTLayer("conv_transpose2d_" + idx, cin, filters[i],
                                   /*elu=*/true, f, gen);
      auto ct = std::dynamic_pointer_cast<SameConvTranspose2dImpl>(fused.module);
      fused.kind += ", MaxPool2d 2 (fused)";
      fused.forward = [ct, f](const Tensor& x) { return torch::elu(ct->UpsampleMaxPool(x, f)); };
      enc->Add(std::move(fused));
    }
    cin = filters[i];
  }
  enc->Add(FlattenLayer());
  enc->Add(LinearLayer("dense", h * w * 256, spec.latent_size, gen));

  LayerStack dec;
  const int64_t h0 = h / 16, w0 = w / 16;
  dec->Add(LinearLayer("dense", spec.latent_size, h0 * w0 * 256, gen));
  dec->Add(ReshapeLayer(256, h0, w0));
  const int64_t dfilters[] = {128, 64, 32, c};
  // The decoder's maps are small: one phase convolution + pixel shuffle
  // beats four convolutions + interleaving there.
  const Formulation df = f == Formulation::kPhaseSplit ? Formulation::kPhaseConv : f;
  cin = 256;
  for (int i = 0; i < 4; ++i) {
    dec->Add(SameConvTLayer("conv_transpose2d_" + std::to_string(i + 1), cin, dfilters[i],
                            /*elu=*/i < 3, df, gen));
    cin = dfilters[i];
  }
  return Autoencoder(enc, dec);
}

// The lean default: Conv2d k3 s2 p1 (+ELU) × 3 with 32/64/128 filters,
// Flatten, Linear; decoder Linear, reshape, 3 "same" k3 s2 transposed
// convolutions (cropped to the encoder's sizes for odd inputs).
Autoencoder BuildConv(const ModelSpec& spec, Formulation requested, const at::Generator& gen) {
  // The decoder's small transposed convolutions run fastest as one phase
  // convolution + pixel shuffle; kPlain is kept for reference tests.
  const Formulation f =
      requested == Formulation::kPlain ? Formulation::kPlain : Formulation::kPhaseConv;
  const int64_t c = spec.input.channels;
  const int64_t filters[] = {32, 64, 128};
  const StageSizes sizes = HalvedSizes(spec.input);
  LayerStack enc;
  int64_t cin = c;
  for (int i = 0; i < 3; ++i) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(cin, filters[i], 3).stride(2).padding(1));
    GlorotUniform(conv->weight, cin * 9, filters[i] * 9, gen);
    ZeroBias(conv->bias);
    Layer l;
    l.name = "conv2d_" + std::to_string(i + 1);
    l.kind = absl::StrCat("Conv2d ", cin, "→", filters[i], " k3 s2, ELU");
    l.module = conv.ptr();
    l.forward = [conv = conv.ptr()](const Tensor& x) { return torch::elu(conv->forward(x)); };
    l.macs = Conv3x3Macs;
    enc->Add(std::move(l));
    cin = filters[i];
  }
  enc->Add(FlattenLayer());
  enc->Add(LinearLayer("dense", 128 * sizes.h[3] * sizes.w[3], spec.latent_size, gen));

  const int64_t dfilters[] = {64, 32, c};
  return Autoencoder(enc, CroppingDecoder(spec, 128, dfilters, sizes, f, gen));
}

// Kaiming (He) normal for convolutions followed by ReLU, fan-out mode (as
// torchvision's ResNet): std = sqrt(2 / (Cout · k · k)).
void KaimingNormal(Tensor& w, const at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double fan_out = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
  w.normal_(0, std::sqrt(2.0 / fan_out), gen);
}

torch::nn::Conv2d NoBiasConv(int64_t cin, int64_t cout, int64_t k, int64_t stride,
                             const at::Generator& gen) {
  torch::nn::Conv2d conv(
      torch::nn::Conv2dOptions(cin, cout, k).stride(stride).padding(k / 2).bias(false));
  KaimingNormal(conv->weight, gen);
  return conv;
}

// Conv2d k3 (no bias) + BatchNorm2d + ReLU: the residual net's stem.
class ConvBnImpl : public torch::nn::Module {
 public:
  ConvBnImpl(int64_t cin, int64_t cout, const at::Generator& gen)
      : conv(register_module("conv", NoBiasConv(cin, cout, 3, 1, gen))),
        bn(register_module("bn", torch::nn::BatchNorm2d(cout))) {}
  Tensor forward(const Tensor& x) { return torch::relu(bn->forward(conv->forward(x))); }
  torch::nn::Conv2d conv;
  torch::nn::BatchNorm2d bn;
};

// ResNet's basic block: [Conv2d k3 s(stride) + BN + ReLU, Conv2d k3 + BN]
// plus a shortcut (identity, or Conv2d 1×1 s(stride) + BN when the shape
// changes), then ReLU.
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t cin, int64_t cout, int64_t stride, const at::Generator& gen)
      : conv1(register_module("conv1", NoBiasConv(cin, cout, 3, stride, gen))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(cout))),
        conv2(register_module("conv2", NoBiasConv(cout, cout, 3, 1, gen))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(cout))) {
    if (stride != 1 || cin != cout) {
      down_conv = register_module("down_conv", NoBiasConv(cin, cout, 1, stride, gen));
      down_bn = register_module("down_bn", torch::nn::BatchNorm2d(cout));
    }
  }
  Tensor forward(const Tensor& x) {
    Tensor y = torch::relu(bn1->forward(conv1->forward(x)));
    y = bn2->forward(conv2->forward(y));
    Tensor s = down_conv ? down_bn->forward(down_conv->forward(x)) : x;
    return torch::relu(y + s);
  }
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Conv2d down_conv{nullptr};
  torch::nn::BatchNorm2d down_bn{nullptr};
};

// A small residual net (for the contrastive objective): stem Conv2d k3 →
// `width` (BN, ReLU) at full resolution; three basic blocks of stride 2
// with 2, 4 and 8 × width filters; global average pooling; Linear →
// latent. Decoder as conv's: Linear, reshape to (8·width,
// H/8, W/8), three "same" k3 s2 transposed convolutions (4·width, 2·width:
// ELU; C: none), cropped to the encoder's sizes for odd inputs.
Autoencoder BuildResNet(const ModelSpec& spec, Formulation requested, const at::Generator& gen,
                        int64_t width) {
  const Formulation f =
      requested == Formulation::kPlain ? Formulation::kPlain : Formulation::kPhaseConv;
  const int64_t c = spec.input.channels;
  const StageSizes sizes = HalvedSizes(spec.input);
  LayerStack enc;
  {
    auto stem = std::make_shared<ConvBnImpl>(c, width, gen);
    Layer l;
    l.name = "stem";
    l.kind = absl::StrCat("Conv2d ", c, "→", width, " k3 s1, BN, ReLU");
    l.module = stem;
    l.forward = [stem](const Tensor& x) { return stem->forward(x); };
    l.macs = Conv3x3Macs;
    enc->Add(std::move(l));
  }
  int64_t cin = width;
  for (int i = 0; i < 3; ++i) {
    const int64_t cout = width << (i + 1);
    auto block = std::make_shared<BasicBlockImpl>(cin, cout, 2, gen);
    Layer l;
    l.name = "block" + std::to_string(i + 1);
    l.kind = absl::StrCat("ResBlock ", cin, "→", cout, " s2 (2× Conv2d k3 + BN, 1×1 shortcut)");
    l.module = block;
    l.forward = [block](const Tensor& x) { return block->forward(x); };
    l.macs = [](const Shape& in, const Shape& out) {
      const int64_t hw = out[1] * out[2];
      return hw * in[0] * out[0] * 9 + hw * out[0] * out[0] * 9 + hw * in[0] * out[0];
    };
    enc->Add(std::move(l));
    cin = cout;
  }
  {
    Layer pool;
    pool.name = "pool";
    pool.kind = "Global average pool";
    pool.forward = [](const Tensor& x) { return x.mean({2, 3}); };
    enc->Add(std::move(pool));
  }
  enc->Add(LinearLayer("dense", cin, spec.latent_size, gen));

  const int64_t dfilters[] = {4 * width, 2 * width, c};
  return Autoencoder(enc, CroppingDecoder(spec, cin, dfilters, sizes, f, gen));
}

using Builder = std::function<Autoencoder(const ModelSpec&, Formulation, const at::Generator&)>;

// The builder of every name in ArchitectureNames() (model_spec.cc).
const std::map<std::string, Builder>& Builders() {
  static const auto* builders = new std::map<std::string, Builder>{
      {"seed", BuildSeed},
      {"conv", BuildConv},
      {"resnet", [](const ModelSpec& spec, Formulation f,
                    const at::Generator& gen) { return BuildResNet(spec, f, gen, 32); }},
      {"resnet_small", [](const ModelSpec& spec, Formulation f,
                          const at::Generator& gen) { return BuildResNet(spec, f, gen, 16); }},
  };
  return *builders;
}

}  // namespace

// ---------------------------------------------------------------------------
// Layers and modules.

void LayerStackImpl::Add(Layer layer) {
  if (layer.module) register_module(layer.name, layer.module);
  if (!layer.macs) layer.macs = [](const Shape&, const Shape&) { return int64_t{0}; };
  layers_.push_back(std::move(layer));
}

Tensor LayerStackImpl::forward(Tensor x) {
  if (input_format_ && x.dim() == 4) x = x.contiguous(*input_format_);
  for (const Layer& l : layers_) x = l.forward(x);
  return x;
}

AutoencoderImpl::AutoencoderImpl(LayerStack enc, LayerStack dec)
    : encoder(register_module("encoder", std::move(enc))),
      decoder(register_module("decoder", std::move(dec))) {}

EmbeddingHeadImpl::EmbeddingHeadImpl(int64_t latent)
    : mean(register_buffer("mean", torch::zeros({latent}))),
      projection(register_buffer("projection", torch::eye(latent))),
      mirror(register_buffer("mirror", torch::zeros({1}))) {}

Tensor EmbeddingHeadImpl::apply(const Tensor& z) {
  Tensor y = (z.to(mean.scalar_type()) - mean).mm(projection);
  return torch::nn::functional::normalize(y, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

Tensor AutoencoderImpl::pooled_latent(const Tensor& x, bool mirror, Tensor* latent) {
  if (!mirror) {
    Tensor z = encode(x);
    if (latent != nullptr) *latent = z;
    return z;
  }
  const int64_t n = x.size(0);
  Tensor both = encode(torch::cat({x, x.flip({3})}, 0));
  Tensor z = both.narrow(0, 0, n);
  if (latent != nullptr) *latent = z;
  return (z + both.narrow(0, n, n)) * 0.5;
}

Tensor AutoencoderImpl::embed(const Tensor& x, Tensor* latent) {
  if (!head) return pooled_latent(x, false, latent);
  return head->apply(pooled_latent(x, head->mirrored(), latent));
}

void AutoencoderImpl::SetEmbeddingHead(const Tensor& mean, const Tensor& projection, bool mirror) {
  if (!head) head = register_module("embedding", EmbeddingHead(mean.size(0)));
  torch::NoGradGuard no_grad;
  // set_data keeps the registered buffers' identity (as Module::to does).
  head->mean.set_data(mean.detach().to(torch::kFloat).clone());
  head->projection.set_data(projection.detach().to(torch::kFloat).clone());
  head->mirror.set_data(
      torch::full({1}, mirror ? 1.0f : 0.0f, torch::TensorOptions().device(mean.device())));
}

void AutoencoderImpl::ClearEmbeddingHead() {
  if (!head) return;
  unregister_module("embedding");
  head = nullptr;
}

std::pair<Tensor, Tensor> FitWhitening(const Tensor& latents, double shrinkage) {
  torch::NoGradGuard no_grad;
  Tensor z = latents.to(torch::kCPU, torch::kDouble);
  const int64_t n = z.size(0), d = z.size(1);
  Tensor mu = z.mean(0);
  Tensor c = z - mu;
  Tensor cov = c.t().mm(c) / static_cast<double>(std::max<int64_t>(n - 1, 1));
  auto [lambda, u] = torch::linalg_eigh(cov);
  lambda = lambda.clamp_min(0);
  const double mean_lambda = lambda.mean().item<double>();
  Tensor p = mean_lambda > 0 ? u / (lambda + shrinkage * mean_lambda).sqrt().unsqueeze(0)
                             : torch::eye(d, torch::kDouble);
  const auto out = torch::TensorOptions().dtype(torch::kFloat).device(latents.device());
  return {mu.to(out), p.to(out)};
}

Autoencoder BuildAutoencoder(const ModelSpec& spec, Formulation formulation, bool channels_last,
                             uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  Autoencoder net = Builders().at(spec.architecture)(spec, formulation, gen);
  if (channels_last) {
    for (auto& m : net->modules()) {
      if (auto* ct = dynamic_cast<SameConvTranspose2dImpl*>(m.get())) ct->channels_last = true;
    }
    // Convert the input once; the layers keep the format.
    net->encoder->SetInputFormat(torch::MemoryFormat::ChannelsLast);
    // Flatten + Linear on a channels-last map: flattening in (C, H, W)
    // order would transpose the whole activation (and its gradient);
    // instead read it in (H, W, C) order, a free view, against the weight's
    // columns permuted the same way (a much smaller copy). Same function,
    // same parameters.
    std::vector<Layer>& layers = net->encoder->mutable_layers();
    for (size_t i = 0; i + 1 < layers.size(); ++i) {
      if (layers[i].name != "flatten" || layers[i + 1].name != "dense") continue;
      auto lin = std::dynamic_pointer_cast<torch::nn::LinearImpl>(layers[i + 1].module);
      layers[i].forward = [](const Tensor& x) { return x; };
      layers[i + 1].forward = [lin](const Tensor& x) {
        if (x.dim() != 4 || !IsChannelsLast(x)) return lin->forward(x.flatten(1));
        const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
        Tensor wt = lin->weight.view({lin->weight.size(0), c, h, w})
                        .permute({0, 2, 3, 1})
                        .reshape({lin->weight.size(0), h * w * c});
        return torch::linear(x.permute({0, 2, 3, 1}).reshape({n, h * w * c}), wt, lin->bias);
      };
    }
  }
  return net;
}

std::vector<LayerInfo> TraceLayers(AutoencoderImpl& net, const ModelSpec& spec) {
  torch::NoGradGuard no_grad;
  std::vector<LayerInfo> rows;
  const auto device = net.encoder->parameters().front().device();
  Tensor x = torch::zeros({1, spec.input.channels, spec.input.height, spec.input.width},
                          torch::TensorOptions().device(device));
  for (auto* part : {&net.encoder, &net.decoder}) {
    for (const Layer& l : (*part)->layers()) {
      LayerInfo info;
      info.part = part == &net.encoder ? "encoder" : "decoder";
      info.name = l.name;
      info.kind = l.kind;
      Shape in = PerImage(x);
      x = l.forward(x);
      info.output_shape = PerImage(x);
      if (l.module) {
        for (const auto& p : l.module->parameters()) info.parameters += p.numel();
      }
      info.macs = l.macs(in, info.output_shape);
      rows.push_back(std::move(info));
    }
  }
  return rows;
}

}  // namespace latentsearch::model

// Architectures, the registry, summaries and the Model handle. The only
// translation unit of ls_model that includes LibTorch (compile cost).
#include "common/model/model.h"

#include <ATen/OpMathType.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/model/torch_model.h"

namespace latentsearch::model {
namespace {

using Shape = std::vector<int64_t>;
using torch::Tensor;

// A 4-D tensor laid out N, H, W, C (and not also plain contiguous).
bool IsChannelsLast(const Tensor& t) {
  return t.dim() == 4 && !t.is_contiguous() && t.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

constexpr int kDefaultLatent = 10;

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
  int64_t hs[4] = {spec.input.height}, ws[4] = {spec.input.width};
  for (int i = 1; i < 4; ++i) {
    hs[i] = (hs[i - 1] + 1) / 2;
    ws[i] = (ws[i - 1] + 1) / 2;
  }
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
  enc->Add(LinearLayer("dense", 128 * hs[3] * ws[3], spec.latent_size, gen));

  LayerStack dec;
  dec->Add(LinearLayer("dense", spec.latent_size, 128 * hs[3] * ws[3], gen));
  dec->Add(ReshapeLayer(128, hs[3], ws[3]));
  const int64_t dfilters[] = {64, 32, c};
  cin = 128;
  for (int i = 0; i < 3; ++i) {
    Layer l = SameConvTLayer("conv_transpose2d_" + std::to_string(i + 1), cin, dfilters[i],
                             /*elu=*/i < 2, f, gen, hs[2 - i], ws[2 - i]);
    if (2 * hs[3 - i] != hs[2 - i] || 2 * ws[3 - i] != ws[2 - i]) {
      l.kind += absl::StrCat(", cropped to ", hs[2 - i], "x", ws[2 - i]);
    }
    dec->Add(std::move(l));
    cin = dfilters[i];
  }
  return Autoencoder(enc, dec);
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
  int64_t hs[4] = {spec.input.height}, ws[4] = {spec.input.width};
  for (int i = 1; i < 4; ++i) {
    hs[i] = (hs[i - 1] + 1) / 2;
    ws[i] = (ws[i - 1] + 1) / 2;
  }
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

  LayerStack dec;
  dec->Add(LinearLayer("dense", spec.latent_size, cin * hs[3] * ws[3], gen));
  dec->Add(ReshapeLayer(cin, hs[3], ws[3]));
  const int64_t dfilters[] = {4 * width, 2 * width, c};
  for (int i = 0; i < 3; ++i) {
    Layer l = SameConvTLayer("conv_transpose2d_" + std::to_string(i + 1), cin, dfilters[i],
                             /*elu=*/i < 2, f, gen, hs[2 - i], ws[2 - i]);
    if (2 * hs[3 - i] != hs[2 - i] || 2 * ws[3 - i] != ws[2 - i]) {
      l.kind += absl::StrCat(", cropped to ", hs[2 - i], "x", ws[2 - i]);
    }
    dec->Add(std::move(l));
    cin = dfilters[i];
  }
  return Autoencoder(enc, dec);
}

struct ArchInfo {
  // Checks the input shape; "" when fine, else what is allowed.
  std::function<std::string(const InputShape&)> check_input;
  std::function<Autoencoder(const ModelSpec&, Formulation, const at::Generator&)> build;
};

std::string CheckResNetInput(const InputShape& s) {
  if (s.height < 8 || s.width < 8 || s.height > 1024 || s.width > 1024) {
    return "resnet needs height and width in 8..1024";
  }
  return "";
}

const std::map<std::string, ArchInfo>& Registry() {
  static const auto* registry = new std::map<std::string, ArchInfo>{
      {"seed",
       {[](const InputShape& s) -> std::string {
          if (s.height % 16 != 0 || s.width % 16 != 0 || s.height < 16 || s.width < 16 ||
              s.height > 256 || s.width > 256) {
            return "seed needs height and width that are multiples of 16 in "
                   "16..256 (e.g. 32x32; resize smaller images such as "
                   "Fashion-MNIST's 28x28 to 32x32)";
          }
          return "";
        },
        BuildSeed}},
      {"conv",
       {[](const InputShape& s) -> std::string {
          if (s.height < 8 || s.width < 8 || s.height > 1024 || s.width > 1024) {
            return "conv needs height and width in 8..1024";
          }
          return "";
        },
        BuildConv}},
      {"resnet",
       {CheckResNetInput, [](const ModelSpec& spec, Formulation f,
                             const at::Generator& gen) { return BuildResNet(spec, f, gen, 32); }}},
      {"resnet_small",
       {CheckResNetInput, [](const ModelSpec& spec, Formulation f,
                             const at::Generator& gen) { return BuildResNet(spec, f, gen, 16); }}},
  };
  return *registry;
}

template <typename F>
absl::Status CatchTorch(absl::string_view what, F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": LibTorch: ", e.what()));
  }
}

int NumCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
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

SameConvTranspose2dImpl::SameConvTranspose2dImpl(int64_t in, int64_t out)
    : in_channels(in), out_channels(out) {
  weight = register_parameter("weight", torch::empty({in, out, 3, 3}));
  bias = register_parameter("bias", torch::zeros({out}));
}

Tensor SameConvTranspose2dImpl::PhaseKernels() {
  // Along one axis the transposed convolution gives out[2a] = x[a]·w[0] +
  // x[a−1]·w[2] and out[2a+1] = x[a]·w[1]. With x padded by one at the
  // start, tap 0 of a 2-tap kernel reads x[a−1] and tap 1 reads x[a]: phase
  // 0 has taps {w[2], w[0]}, phase 1 {0, w[1]}. kTap[2r + t] is the kernel
  // index of tap t of phase r (−1 = zero).
  static constexpr int kTap[4] = {2, 0, -1, 1};
  if (!select_.defined() || select_.device() != weight.device()) {
    Tensor m = torch::zeros({9, 16});
    for (int a = 0; a < 4; ++a) {
      for (int b = 0; b < 4; ++b) {
        if (kTap[a] >= 0 && kTap[b] >= 0) m[kTap[a] * 3 + kTap[b]][a * 4 + b] = 1.0f;
      }
    }
    select_ = m.to(weight.device());
  }
  return weight.reshape({in_channels * out_channels, 9})
      .mm(select_.to(weight.scalar_type()))
      .view({in_channels, out_channels, 2, 2, 2, 2});
}

std::vector<Tensor> SameConvTranspose2dImpl::SplitKernels() {
  // Phase r along an axis uses kernel rows {2, 0} (r = 0) or {1} (r = 1).
  static const std::vector<int> kRows[2] = {{2, 0}, {1}};
  if (split_select_.empty() || split_select_[0].device() != weight.device()) {
    split_select_.clear();
    for (int r = 0; r < 2; ++r) {
      for (int s = 0; s < 2; ++s) {
        const auto& rows = kRows[r];
        const auto& cols = kRows[s];
        Tensor m = torch::zeros({9, static_cast<int64_t>(rows.size() * cols.size())});
        for (size_t i = 0; i < rows.size(); ++i) {
          for (size_t j = 0; j < cols.size(); ++j) {
            m[rows[i] * 3 + cols[j]][i * cols.size() + j] = 1.0f;
          }
        }
        split_select_.push_back(m.to(weight.device()));
      }
    }
  }
  const Tensor w = weight.reshape({in_channels * out_channels, 9});
  std::vector<Tensor> kernels;
  for (int p = 0; p < 4; ++p) {
    const int64_t kh = p / 2 == 0 ? 2 : 1, kw = p % 2 == 0 ? 2 : 1;
    kernels.push_back(w.mm(split_select_[p].to(weight.scalar_type()))
                          .view({in_channels, out_channels, kh, kw})
                          .transpose(0, 1)
                          .contiguous());
  }
  return kernels;
}

Tensor SameConvTranspose2dImpl::PhaseConv(const Tensor& x, bool phase_major, bool pad_copy) {
  // pad_copy: pad one row/column at the top/left and get H × W outputs;
  // else let the convolution pad symmetrically and return (H+1) × (W+1)
  // outputs of which the top-left H × W are the phases (no input copy).
  Tensor xp = pad_copy ? torch::constant_pad_nd(x, {1, 0, 1, 0}) : x;
  if (channels_last) xp = xp.contiguous(torch::MemoryFormat::ChannelsLast);
  // [Cin, Cout, r, t, s, u] → [phase, Cout] or [Cout, phase] × [Cin, t, u].
  Tensor k = PhaseKernels()
                 .permute(phase_major ? std::vector<int64_t>{2, 4, 1, 0, 3, 5}
                                      : std::vector<int64_t>{1, 2, 4, 0, 3, 5})
                 .reshape({out_channels * 4, in_channels, 2, 2});
  Tensor b =
      phase_major ? bias.repeat({4}) : bias.unsqueeze(1).expand({out_channels, 4}).reshape({-1});
  if (pad_copy) return torch::conv2d(xp, k, b);
  using Pad = std::vector<int64_t>;
  return torch::conv2d(xp, k, b, Pad{1, 1}, Pad{1, 1});
}

namespace {

// The four exact phase convolutions (2×2, 2×1, 1×2, 1×1 kernels) in phase
// order (0,0), (0,1), (1,0), (1,1), without padding copies: PyTorch pads
// symmetrically, so (0,0) is computed (H+1) × (W+1), (0,1) (H+1) × W and
// (1,0) H × (W+1); the top-left H × W of each is the phase. Callers take
// that region (Region()) or let PhaseMax4 read it in place.
std::vector<Tensor> SplitPhases(const Tensor& x_in, const std::vector<Tensor>& kernels,
                                const Tensor& bias, bool channels_last) {
  const Tensor x = channels_last ? x_in.contiguous(torch::MemoryFormat::ChannelsLast) : x_in;
  using Pad = std::vector<int64_t>;
  const Pad one = {1, 1};
  return {torch::conv2d(x, kernels[0], bias, one, Pad{1, 1}),
          torch::conv2d(x, kernels[1], bias, one, Pad{1, 0}),
          torch::conv2d(x, kernels[2], bias, one, Pad{0, 1}), torch::conv2d(x, kernels[3], bias)};
}

Tensor Region(const Tensor& t, int64_t h, int64_t w) { return t.narrow(2, 0, h).narrow(3, 0, w); }

// PhaseMax's kernels: `four` is N × 4C × S (contiguous) or N × S × 4C
// (channels-last, `cl`), phase-major channels; `out`/`arg` N × C × S or
// N × S × C.
template <typename T>
void PhaseMaxForward(const T* y, T* out, uint8_t* arg, int64_t n, int64_t c, int64_t s, bool cl) {
  using acc = at::opmath_type<T>;  // float for bf16, else T itself.
  if (cl) {
    at::parallel_for(0, n * s, 64, [&](int64_t begin, int64_t end) {
      for (int64_t px = begin; px < end; ++px) {
        const T* yp = y + px * 4 * c;
        T* op = out + px * c;
        uint8_t* ap = arg + px * c;
        for (int64_t i = 0; i < c; ++i) {
          acc m = static_cast<acc>(yp[i]);
          uint8_t a = 0;
          for (int p = 1; p < 4; ++p) {
            const acc v = static_cast<acc>(yp[p * c + i]);
            if (v > m) {
              m = v;
              a = static_cast<uint8_t>(p);
            }
          }
          op[i] = static_cast<T>(m);
          ap[i] = a;
        }
      }
    });
    return;
  }
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t img = nc / c, ch = nc % c;
      const T* y0 = y + (img * 4 * c + ch) * s;
      T* op = out + nc * s;
      uint8_t* ap = arg + nc * s;
      for (int64_t j = 0; j < s; ++j) {
        acc m = static_cast<acc>(y0[j]);
        uint8_t a = 0;
        for (int p = 1; p < 4; ++p) {
          const acc v = static_cast<acc>(y0[p * c * s + j]);
          if (v > m) {
            m = v;
            a = static_cast<uint8_t>(p);
          }
        }
        op[j] = static_cast<T>(m);
        ap[j] = a;
      }
    }
  });
}

template <typename T>
void PhaseMaxBackward(const T* g, const uint8_t* arg, T* gy, int64_t n, int64_t c, int64_t s,
                      bool cl) {
  if (cl) {
    at::parallel_for(0, n * s, 64, [&](int64_t begin, int64_t end) {
      for (int64_t px = begin; px < end; ++px) {
        const T* gp = g + px * c;
        const uint8_t* ap = arg + px * c;
        T* yp = gy + px * 4 * c;
        for (int p = 0; p < 4; ++p) {
          for (int64_t i = 0; i < c; ++i) {
            yp[p * c + i] = ap[i] == p ? gp[i] : static_cast<T>(0);
          }
        }
      }
    });
    return;
  }
  at::parallel_for(0, n * c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t img = nc / c, ch = nc % c;
      const T* gp = g + nc * s;
      const uint8_t* ap = arg + nc * s;
      for (int p = 0; p < 4; ++p) {
        T* yp = gy + ((img * 4 + p) * c + ch) * s;
        for (int64_t j = 0; j < s; ++j) yp[j] = ap[j] == p ? gp[j] : static_cast<T>(0);
      }
    }
  });
}

class PhaseMaxFn : public torch::autograd::Function<PhaseMaxFn> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& y_in) {
    const bool cl = IsChannelsLast(y_in);
    const Tensor y = cl ? y_in : y_in.contiguous();
    const int64_t n = y.size(0), c = y.size(1) / 4, h = y.size(2), w = y.size(3);
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    Tensor out = torch::empty({n, c, h, w}, y.options().memory_format(fmt));
    Tensor arg = torch::empty({n, c, h, w}, y.options().dtype(torch::kUInt8).memory_format(fmt));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y.scalar_type(), "PhaseMax", [&] {
      PhaseMaxForward<scalar_t>(y.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                                arg.data_ptr<uint8_t>(), n, c, h * w, cl);
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["cl"] = cl;
    ctx->mark_non_differentiable({arg});
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const Tensor arg = ctx->get_saved_variables()[0];
    const bool cl = ctx->saved_data["cl"].toBool();
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const Tensor g = grads[0].contiguous(fmt);
    const int64_t n = arg.size(0), c = arg.size(1), h = arg.size(2), w = arg.size(3);
    Tensor gy = torch::empty({n, 4 * c, h, w}, g.options().memory_format(fmt));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, g.scalar_type(), "PhaseMaxBackward", [&] {
      PhaseMaxBackward<scalar_t>(g.data_ptr<scalar_t>(), arg.data_ptr<uint8_t>(),
                                 gy.data_ptr<scalar_t>(), n, c, h * w, cl);
    });
    return {gy};
  }
};

// PhaseMax4's kernels over four separately computed phases, each read (and
// its gradient written) in place through its strides; only the top-left
// h × w of each is used (gradients of the extra row/column are zero).
struct Strided4 {
  int64_t sn[4], sc[4], sh[4], sw[4];
};

template <typename T>
void PhaseMax4Forward(const std::array<const T*, 4>& y, const Strided4& st, T* out, uint8_t* arg,
                      int64_t n, int64_t c, int64_t h, int64_t w, bool cl) {
  using acc = at::opmath_type<T>;
  // Output and argmax are laid out like the inputs (cl: N, H, W, C).
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nh = begin; nh < end; ++nh) {
      const int64_t img = nh / h, row = nh % h;
      for (int64_t col = 0; col < w; ++col) {
        const T* yp[4];
        for (int p = 0; p < 4; ++p) {
          yp[p] = y[p] + img * st.sn[p] + row * st.sh[p] + col * st.sw[p];
        }
        if (cl) {  // Channels contiguous in every input (stride 1).
          T* op = out + ((img * h + row) * w + col) * c;
          uint8_t* ap = arg + ((img * h + row) * w + col) * c;
          for (int64_t ch = 0; ch < c; ++ch) {
            acc m = static_cast<acc>(yp[0][ch]);
            uint8_t a = 0;
            for (int p = 1; p < 4; ++p) {
              const acc v = static_cast<acc>(yp[p][ch]);
              a = v > m ? static_cast<uint8_t>(p) : a;
              m = v > m ? v : m;
            }
            op[ch] = static_cast<T>(m);
            ap[ch] = a;
          }
          continue;
        }
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t o = ((img * c + ch) * h + row) * w + col;
          acc m = static_cast<acc>(yp[0][ch * st.sc[0]]);
          uint8_t a = 0;
          for (int p = 1; p < 4; ++p) {
            const acc v = static_cast<acc>(yp[p][ch * st.sc[p]]);
            if (v > m) {
              m = v;
              a = static_cast<uint8_t>(p);
            }
          }
          out[o] = static_cast<T>(m);
          arg[o] = a;
        }
      }
    }
  });
}

template <typename T>
void PhaseMax4Backward(const T* g, const uint8_t* arg, const std::array<T*, 4>& gy,
                       const Strided4& st, int64_t n, int64_t c, int64_t h, int64_t w, bool cl) {
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t nh = begin; nh < end; ++nh) {
      const int64_t img = nh / h, row = nh % h;
      for (int64_t col = 0; col < w; ++col) {
        T* yp[4];
        for (int p = 0; p < 4; ++p) {
          yp[p] = gy[p] + img * st.sn[p] + row * st.sh[p] + col * st.sw[p];
        }
        if (cl) {
          const T* gp = g + ((img * h + row) * w + col) * c;
          const uint8_t* ap = arg + ((img * h + row) * w + col) * c;
          for (int p = 0; p < 4; ++p) {
            T* __restrict dst = yp[p];
            const T* __restrict src = gp;
            const uint8_t* __restrict as = ap;
            const T zero = static_cast<T>(0);
            for (int64_t ch = 0; ch < c; ++ch) dst[ch] = as[ch] == p ? src[ch] : zero;
          }
          continue;
        }
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t o = ((img * c + ch) * h + row) * w + col;
          for (int p = 0; p < 4; ++p) {
            yp[p][ch * st.sc[p]] = arg[o] == p ? g[o] : static_cast<T>(0);
          }
        }
      }
    }
  });
}

class PhaseMax4Fn : public torch::autograd::Function<PhaseMax4Fn> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& y0, const Tensor& y1,
                        const Tensor& y2, const Tensor& y3, int64_t h, int64_t w) {
    const std::array<Tensor, 4> y = {y0, y1, y2, y3};
    const bool cl = IsChannelsLast(y0);
    const int64_t n = y0.size(0), c = y0.size(1);
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    Tensor out = torch::empty({n, c, h, w}, y0.options().memory_format(fmt));
    Tensor arg = torch::empty({n, c, h, w}, y0.options().dtype(torch::kUInt8).memory_format(fmt));
    Strided4 st;
    for (int p = 0; p < 4; ++p) {
      st.sn[p] = y[p].stride(0);
      st.sc[p] = y[p].stride(1);
      st.sh[p] = y[p].stride(2);
      st.sw[p] = y[p].stride(3);
    }
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y0.scalar_type(), "PhaseMax4", [&] {
      PhaseMax4Forward<scalar_t>({y[0].data_ptr<scalar_t>(), y[1].data_ptr<scalar_t>(),
                                  y[2].data_ptr<scalar_t>(), y[3].data_ptr<scalar_t>()},
                                 st, out.data_ptr<scalar_t>(), arg.data_ptr<uint8_t>(), n, c, h, w,
                                 cl);
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["cl"] = cl;
    for (int p = 0; p < 4; ++p) {
      ctx->saved_data["h" + std::to_string(p)] = y[p].size(2);
      ctx->saved_data["w" + std::to_string(p)] = y[p].size(3);
    }
    ctx->mark_non_differentiable({arg});
    return out;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const Tensor arg = ctx->get_saved_variables()[0];
    const bool cl = ctx->saved_data["cl"].toBool();
    const auto fmt = cl ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const Tensor g = grads[0].contiguous(fmt);
    const int64_t n = arg.size(0), c = arg.size(1), h = arg.size(2), w = arg.size(3);
    torch::autograd::tensor_list out(6);
    Strided4 st;
    for (int p = 0; p < 4; ++p) {
      const int64_t hp = ctx->saved_data["h" + std::to_string(p)].toInt();
      const int64_t wp = ctx->saved_data["w" + std::to_string(p)].toInt();
      Tensor full = torch::empty({n, c, hp, wp}, g.options().memory_format(fmt));
      if (hp > h) full.narrow(2, h, hp - h).zero_();
      if (wp > w) full.narrow(3, w, wp - w).zero_();
      st.sn[p] = full.stride(0);
      st.sc[p] = full.stride(1);
      st.sh[p] = full.stride(2);
      st.sw[p] = full.stride(3);
      out[p] = full;
    }
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, g.scalar_type(), "PhaseMax4Backward", [&] {
      PhaseMax4Backward<scalar_t>(g.data_ptr<scalar_t>(), arg.data_ptr<uint8_t>(),
                                  {out[0].data_ptr<scalar_t>(), out[1].data_ptr<scalar_t>(),
                                   out[2].data_ptr<scalar_t>(), out[3].data_ptr<scalar_t>()},
                                  st, n, c, h, w, cl);
    });
    return out;
  }
};

}  // namespace

Tensor PhaseMax(const Tensor& y) { return PhaseMaxFn::apply(y); }

Tensor PhaseMax4(const std::vector<Tensor>& phases, int64_t h, int64_t w) {
  return PhaseMax4Fn::apply(phases[0], phases[1], phases[2], phases[3], h, w);
}

Tensor SameConvTranspose2dImpl::Upsample(const Tensor& x, Formulation f) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  if (f == Formulation::kPlain) {
    Tensor y = torch::conv_transpose2d(x, weight, bias, /*stride=*/2);
    return y.narrow(2, 0, 2 * h).narrow(3, 0, 2 * w);
  }
  // Channel c·4 + 2r + s → output (c, 2a + r, 2b + s).
  Tensor phases;
  if (f == Formulation::kPhaseSplit) {
    std::vector<Tensor> p = SplitPhases(x, SplitKernels(), bias, channels_last);
    for (Tensor& t : p) t = Region(t, h, w);
    phases = torch::stack(p, 2).reshape({n, out_channels * 4, h, w});
  } else {
    phases = Region(PhaseConv(x, /*phase_major=*/false, /*pad_copy=*/false), h, w);
  }
  return torch::pixel_shuffle(phases, 2);
}

Tensor SameConvTranspose2dImpl::UpsampleMaxPool(const Tensor& x, Formulation f) {
  if (f == Formulation::kPlain) return torch::max_pool2d(Upsample(x, f), 2);
  if (f == Formulation::kPhaseSplit) {
    return PhaseMax4(SplitPhases(x, SplitKernels(), bias, channels_last), x.size(2), x.size(3));
  }
  return PhaseMax(PhaseConv(x, /*phase_major=*/true));
}

Autoencoder BuildAutoencoder(const ModelSpec& spec, Formulation formulation, bool channels_last,
                             uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  Autoencoder net = Registry().at(spec.architecture).build(spec, formulation, gen);
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

std::string SaveWeights(torch::nn::Module& module, absl::string_view exclude_prefix) {
  c10::Dict<std::string, Tensor> dict;
  auto excluded = [&](const std::string& name) {
    return !exclude_prefix.empty() && absl::StartsWith(name, exclude_prefix);
  };
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    if (excluded(p.key())) continue;
    dict.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    if (excluded(b.key())) continue;
    dict.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous());
  }
  std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  return std::string(bytes.begin(), bytes.end());
}

namespace {

// The archive's bytes for LibTorch's zip reader, with every read checked
// against the end. torch::pickle_load's own VectorReader copies whatever
// range miniz asks for: on a malformed archive (pushed by a client) that
// read past the buffer (heap-buffer-overflow found by model_weights_fuzzer,
// regression input in tests/fuzz/regressions/model_weights_fuzzer).
class BoundedReadAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReadAdapter(absl::string_view bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what) const override {
    if (pos > bytes_.size() || n > bytes_.size() - pos) {
      throw std::out_of_range(absl::StrCat(
          "archive read of ", n, " bytes at offset ", pos, " is past its end (", bytes_.size(),
          " bytes)", what != nullptr && *what ? ": " : "", what != nullptr ? what : ""));
    }
    if (n > 0) std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  absl::string_view bytes_;
};

// Little-endian fields of the zip structures below.
uint64_t LoadLe(absl::string_view bytes, size_t pos, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(bytes[pos + static_cast<size_t>(i)]);
  }
  return v;
}

// Checks a weights archive's zip central directory before LibTorch reads it.
// PyTorchStreamReader::getRecord allocates each record's declared
// uncompressed size before it reads a byte, so an archive of a few hundred
// kilobytes that declares a 4 GiB record made the encoder allocate 4 GiB
// (out-of-memory found by model_weights_fuzzer; regression input in
// tests/fuzz/regressions/model_weights_fuzzer/oom-record-size). LibTorch
// writes weights uncompressed (method 0), so every record must be stored,
// its two sizes equal, and its bytes inside the archive. The end record is
// found as miniz finds it (the last signature within 64 KiB of the end);
// when a zip64 end record is present as well (LibTorch always writes one),
// the two must agree, so no reading of the archive sees other records.
// Where a record's bytes lie in the archive.
struct RecordSpan {
  size_t offset = 0;
  size_t size = 0;
};

struct ArchiveDirectory {
  std::string first;  // the first record's name, in directory order
  std::map<std::string, RecordSpan> records;
};

absl::StatusOr<ArchiveDirectory> ReadArchiveDirectory(absl::string_view bytes) {
  constexpr size_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56;
  constexpr size_t kCentralSize = 46, kLocalSize = 30;
  const size_t n = bytes.size();
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("weights archive (", n, " bytes) is not a valid zip: ", what));
  };
  if (n < kEndSize) return corrupt("shorter than a zip end record");
  size_t end = std::string::npos;
  const size_t lowest = n - kEndSize > 0xFFFF ? n - kEndSize - 0xFFFF : 0;
  for (size_t pos = n - kEndSize + 1; pos-- > lowest;) {
    if (LoadLe(bytes, pos, 4) == 0x06054b50) {
      end = pos;
      break;
    }
  }
  if (end == std::string::npos) return corrupt("no end-of-central-directory record");
  uint64_t entries = LoadLe(bytes, end + 10, 2);
  uint64_t dir_size = LoadLe(bytes, end + 12, 4);
  uint64_t dir_offset = LoadLe(bytes, end + 16, 4);
  if (end >= kLocatorSize && LoadLe(bytes, end - kLocatorSize, 4) == 0x07064b50) {
    const uint64_t z64 = LoadLe(bytes, end - kLocatorSize + 8, 8);
    if (z64 > n || n - z64 < kZip64EndSize || LoadLe(bytes, z64, 4) != 0x06064b50) {
      return corrupt("its zip64 locator points at no zip64 end record");
    }
    const uint64_t entries64 = LoadLe(bytes, z64 + 32, 8);
    const uint64_t size64 = LoadLe(bytes, z64 + 40, 8);
    const uint64_t offset64 = LoadLe(bytes, z64 + 48, 8);
    if ((entries != 0xFFFF && entries != entries64) ||
        (dir_size != 0xFFFFFFFF && dir_size != size64) ||
        (dir_offset != 0xFFFFFFFF && dir_offset != offset64)) {
      return corrupt("its zip64 end record disagrees with its end record");
    }
    entries = entries64;
    dir_size = size64;
    dir_offset = offset64;
  }
  if (dir_offset > n || dir_size > n - dir_offset) {
    return corrupt(absl::StrCat("central directory (", dir_size, " bytes at offset ", dir_offset,
                                ") is past its end"));
  }
  if (entries > dir_size / kCentralSize) {
    return corrupt(
        absl::StrCat(entries, " records cannot fit a central directory of ", dir_size, " bytes"));
  }
  const size_t dir_end = dir_offset + dir_size;
  ArchiveDirectory archive;
  size_t pos = dir_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (dir_end - pos < kCentralSize || LoadLe(bytes, pos, 4) != 0x02014b50) {
      return corrupt(absl::StrCat("central directory record ", i, " is damaged"));
    }
    const uint64_t method = LoadLe(bytes, pos + 10, 2);
    const uint64_t packed = LoadLe(bytes, pos + 20, 4);
    const uint64_t size = LoadLe(bytes, pos + 24, 4);
    const size_t name_length = LoadLe(bytes, pos + 28, 2);
    const size_t variable = name_length + LoadLe(bytes, pos + 30, 2) + LoadLe(bytes, pos + 32, 2);
    const uint64_t local = LoadLe(bytes, pos + 42, 4);
    if (dir_end - pos - kCentralSize < variable) {
      return corrupt(absl::StrCat("central directory record ", i, " is past its end"));
    }
    const std::string name(bytes.substr(pos + kCentralSize, name_length));
    if (method != 0) {
      return corrupt(absl::StrCat("record '", name, "' is compressed (method ", method,
                                  "); LibTorch stores weights uncompressed"));
    }
    if (packed != size || size == 0xFFFFFFFF) {
      return corrupt(
          absl::StrCat("record '", name, "' declares ", size, " bytes but stores ", packed));
    }
    if (local > n || n - local < kLocalSize || LoadLe(bytes, local, 4) != 0x04034b50) {
      return corrupt(absl::StrCat("record '", name, "' has no local header at offset ", local));
    }
    const uint64_t data =
        local + kLocalSize + LoadLe(bytes, local + 26, 2) + LoadLe(bytes, local + 28, 2);
    if (data > n || n - data < size) {
      return corrupt(absl::StrCat("record '", name, "' (", size, " bytes at offset ", data,
                                  ") is past its end"));
    }
    if (i == 0) archive.first = name;
    if (!archive.records.emplace(name, RecordSpan{data, size}).second) {
      return corrupt(absl::StrCat("record '", name, "' appears twice"));
    }
    pos += kCentralSize + variable;
  }
  return archive;
}

// Checks the pickle program of a weights archive (its data.pkl) before
// LibTorch's unpickler runs it. The unpickler reserves what a length prefix
// declares before reading (a string declaring 4 GiB made it allocate 4 GiB:
// out-of-memory found by model_weights_fuzzer, regression input
// tests/fuzz/regressions/model_weights_fuzzer/oom-pickle-string-length) and
// grows its memo table to twice a memo index (LONG_BINPUT). So: every opcode
// must be one of the pickle protocol's (LibTorch's pickler writes a small
// subset), every length must fit in what is left of the program, memo
// indexes may not run ahead of the values stored so far, and the program
// must end with STOP.
absl::Status CheckPickle(absl::string_view program) {
  size_t pos = 0, puts = 0;
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("weights archive's pickle (", program.size(),
                                            " bytes) is malformed at offset ", pos, ": ", what));
  };
  auto need = [&](uint64_t bytes) { return bytes <= program.size() - pos; };
  while (pos < program.size()) {
    const uint8_t op = static_cast<uint8_t>(program[pos++]);
    size_t fixed = 0;   // bytes of a fixed-size argument
    int length = 0;     // bytes of a length prefix (then that many bytes)
    int lines = 0;      // newline-terminated text arguments
    bool memo = false;  // a PUT: the argument is a memo index
    switch (op) {
      case '.':  // STOP
        return pos == program.size() ? absl::OkStatus() : bad("bytes after STOP");
      case '}':
      case ']':
      case ')':
      case '(':
      case 't':
      case 's':
      case 'u':
      case 'a':
      case 'e':
      case 'N':
      case 'R':
      case 'b':
      case 'Q':
      case '0':
      case '1':
      case '2':
      case 0x81:
      case 0x85:
      case 0x86:
      case 0x87:
      case 0x88:
      case 0x89:
      case 0x93:
      case 0x90:
      case 0x91:
      case 0x92:
        break;
      case 0x94:  // MEMOIZE
        ++puts;
        break;
      case 0x80:
      case 'K':
      case 'h':
        fixed = 1;
        break;
      case 'M':
        fixed = 2;
        break;
      case 'J':
      case 'j':
        fixed = 4;
        break;
      case 'G':
      case 0x95:
        fixed = 8;
        break;
      case 'q':
        fixed = 1;
        memo = true;
        break;
      case 'r':
        fixed = 4;
        memo = true;
        break;
      case 0x8a:
      case 0x8c:
      case 'C':
      case 'U':
        length = 1;
        break;
      case 0x8b:
      case 'X':
      case 'B':
      case 'T':
        length = 4;
        break;
      case 0x8d:
      case 0x8e:
      case 0x96:
        length = 8;
        break;
      case 'c':
        lines = 2;
        break;
      case 'I':
      case 'L':
      case 'F':
      case 'S':
      case 'V':
      case 'P':
      case 'g':
      case 'p':
        lines = 1;
        break;
      default:
        --pos;
        return bad(absl::StrFormat("opcode 0x%02x is not a pickle opcode", op));
    }
    if (fixed > 0) {
      if (!need(fixed)) return bad("argument past the end");
      if (memo) {
        const uint64_t index = LoadLe(program, pos, static_cast<int>(fixed));
        if (index > puts) {
          return bad(absl::StrCat("memo index ", index, " but only ", puts, " values were stored"));
        }
        ++puts;
      }
      pos += fixed;
    } else if (length > 0) {
      if (!need(static_cast<uint64_t>(length))) return bad("length past the end");
      const uint64_t declared = LoadLe(program, pos, length);
      pos += static_cast<size_t>(length);
      if (!need(declared)) {
        return bad(
            absl::StrCat("declares ", declared, " bytes, ", program.size() - pos, " are left"));
      }
      pos += static_cast<size_t>(declared);
    }
    for (int i = 0; i < lines; ++i) {
      const size_t end = program.find('\n', pos);
      if (end == absl::string_view::npos) return bad("text argument without its newline");
      pos = end + 1;
    }
  }
  return bad("no STOP");
}

// Both checks above; the archive's data.pkl is the record "<dir>/data.pkl"
// where <dir> is its first record's directory, as PyTorchStreamReader finds it.
absl::Status CheckArchive(absl::string_view bytes) {
  absl::StatusOr<ArchiveDirectory> archive = ReadArchiveDirectory(bytes);
  if (!archive.ok()) return archive.status();
  if (archive->records.empty()) return absl::DataLossError("weights archive holds no records");
  const size_t slash = archive->first.find('/');
  const std::string pickle =
      (slash == std::string::npos ? archive->first : archive->first.substr(0, slash)) + "/data.pkl";
  auto it = archive->records.find(pickle);
  if (it == archive->records.end()) {
    return absl::DataLossError(absl::StrCat("weights archive has no '", pickle, "' record"));
  }
  return CheckPickle(bytes.substr(it->second.offset, it->second.size));
}

// Each tensor's storage must lie inside the buffer LibTorch allocated for
// its record: the pickle declares a storage's element count and LibTorch
// believes it, so a count larger than the record let later copies read past
// the allocation. The buffers come from LibTorch's CPU allocator
// (posix_memalign), whose usable size bounds the real allocation.
absl::Status CheckStorages(const std::map<std::string, Tensor>& stored) {
  for (const auto& [name, tensor] : stored) {
    const c10::Storage& storage = tensor.storage();
    const void* data = storage.data();
    if (storage.nbytes() == 0) continue;
    if (data == nullptr || storage.device_type() != c10::DeviceType::CPU ||
        ::malloc_usable_size(const_cast<void*>(data)) < storage.nbytes()) {
      return absl::DataLossError(absl::StrCat("weights archive declares ", storage.nbytes(),
                                              " bytes of storage for '", name,
                                              "' but its record holds fewer"));
    }
  }
  return absl::OkStatus();
}

// The {name: tensor} dictionary of a weights archive.
absl::StatusOr<std::map<std::string, Tensor>> ReadArchive(absl::string_view bytes) {
  if (absl::Status s = CheckArchive(bytes); !s.ok()) return s;
  c10::IValue value;
  try {
    // As torch::pickle_load, through the bounds-checked reader.
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReadAdapter>(bytes));
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"",
                                              /*tensor_prefix=*/"", c10::nullopt, c10::nullopt,
                                              c10::nullopt, reader);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat("weights are not a LibTorch archive: ", e.what()));
  }
  if (!value.isGenericDict()) {
    return absl::DataLossError("weights archive does not hold a dictionary");
  }
  std::map<std::string, Tensor> stored;
  absl::Status s = CatchTorch("loading weights", [&]() -> absl::Status {
    auto dict = value.toGenericDict();
    for (const auto& entry : dict) {
      if (!entry.key().isString() || !entry.value().isTensor()) {
        return absl::InvalidArgumentError("weights archive holds a non-tensor entry");
      }
      stored[entry.key().toStringRef()] = entry.value().toTensor();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (absl::Status c = CheckStorages(stored); !c.ok()) return c;
  return stored;
}

absl::Status LoadStoredInto(torch::nn::Module& module,
                            const std::map<std::string, Tensor>& stored) {
  return CatchTorch("loading weights", [&]() -> absl::Status {
    std::vector<std::pair<std::string, Tensor>> targets;
    for (const auto& p : module.named_parameters(true)) targets.emplace_back(p.key(), p.value());
    for (const auto& b : module.named_buffers(true)) targets.emplace_back(b.key(), b.value());
    for (const auto& [name, target] : targets) {
      auto it = stored.find(name);
      if (it == stored.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("weights lack parameter '", name, "' (", stored.size(),
                         " stored): they belong to another architecture or size"));
      }
      if (it->second.sizes() != target.sizes()) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter '", name, "' has shape ", c10::str(it->second.sizes()),
                         " in the weights but ", c10::str(target.sizes()), " in the model"));
      }
    }
    if (stored.size() != targets.size()) {
      return absl::InvalidArgumentError(absl::StrCat("weights hold ", stored.size(),
                                                     " tensors, the model has ", targets.size(),
                                                     ": they belong to another architecture"));
    }
    torch::NoGradGuard no_grad;
    for (auto& [name, target] : targets) target.copy_(stored.at(name));
    return absl::OkStatus();
  });
}

}  // namespace

absl::Status LoadWeightsInto(torch::nn::Module& module, absl::string_view bytes) {
  absl::StatusOr<std::map<std::string, Tensor>> stored = ReadArchive(bytes);
  if (!stored.ok()) return stored.status();
  return LoadStoredInto(module, *stored);
}

// ---------------------------------------------------------------------------
// Plain API.

std::string FormatInputShape(const InputShape& s) {
  return absl::StrCat(s.height, "x", s.width, "x", s.channels);
}

absl::StatusOr<InputShape> ParseInputShape(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, 'x');
  InputShape s;
  int* fields[] = {&s.height, &s.width, &s.channels};
  if (parts.size() == 2) s.channels = 3;
  if (parts.size() < 2 || parts.size() > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("input shape '", text, "' is not HxWxC (e.g. 32x32x3) or HxW"));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!absl::SimpleAtoi(parts[i], fields[i]) || *fields[i] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("input shape '", text, "': '", parts[i], "' is not a positive integer"));
    }
  }
  return s;
}

std::vector<std::string> ArchitectureNames() {
  std::vector<std::string> names;
  for (const auto& [name, info] : Registry()) names.push_back(name);
  return names;
}

ModelSpec WithDefaults(const ModelSpec& spec) {
  ModelSpec s = spec;
  if (s.architecture.empty()) s.architecture = kDefaultArchitecture;
  if (s.latent_size == 0) s.latent_size = kDefaultLatent;
  if (s.input.height == 0) s.input.height = 32;
  if (s.input.width == 0) s.input.width = 32;
  if (s.input.channels == 0) s.input.channels = 3;
  return s;
}

absl::Status ValidateSpec(const ModelSpec& spec_in) {
  const ModelSpec spec = WithDefaults(spec_in);
  auto it = Registry().find(spec.architecture);
  if (it == Registry().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture: unknown architecture '", spec.architecture,
                     "'; known: ", absl::StrJoin(ArchitectureNames(), ", ")));
  }
  if (spec.latent_size < 1 || spec.latent_size > kMaxLatentSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("latent_size: ", spec.latent_size, " is outside 1..", kMaxLatentSize));
  }
  if (spec.input.channels != 1 && spec.input.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("input_shape: ", spec.input.channels, " channels; allowed: 1 or 3"));
  }
  std::string why = it->second.check_input(spec.input);
  if (!why.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("input_shape: ", FormatInputShape(spec.input),
                                                   " does not suit '", spec.architecture,
                                                   "': ", why));
  }
  return absl::OkStatus();
}

absl::string_view FormulationName(Formulation f) {
  switch (f) {
    case Formulation::kPlain:
      return "plain";
    case Formulation::kPhaseConv:
      return "phase_conv";
    case Formulation::kPhaseSplit:
      return "phase_split";
  }
  return "?";
}

absl::StatusOr<Formulation> ParseFormulation(absl::string_view name) {
  for (Formulation f : {Formulation::kPlain, Formulation::kPhaseConv, Formulation::kPhaseSplit}) {
    if (name == FormulationName(f)) return f;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("formulation '", name, "'; allowed: plain, phase_conv, phase_split"));
}

absl::StatusOr<ModelSummary> Describe(const ModelSpec& spec_in) {
  if (absl::Status s = ValidateSpec(spec_in); !s.ok()) return s;
  ModelSummary summary;
  summary.spec = WithDefaults(spec_in);
  absl::Status s = CatchTorch("describing the model", [&]() -> absl::Status {
    Autoencoder net = BuildAutoencoder(summary.spec, Formulation::kPlain);
    summary.layers = TraceLayers(*net, summary.spec);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (const LayerInfo& l : summary.layers) {
    if (l.part == "encoder") {
      summary.encoder_parameters += l.parameters;
      summary.encoder_macs += l.macs;
    } else {
      summary.decoder_parameters += l.parameters;
      summary.decoder_macs += l.macs;
    }
  }
  return summary;
}

namespace {
std::string Thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return v < 0 ? "-" + out : out;
}
}  // namespace

std::string FormatSummary(const ModelSummary& m) {
  std::string out =
      absl::StrFormat("Model: %s  latent %d  input %s (H x W x C)\n", m.spec.architecture,
                      m.spec.latent_size, FormatInputShape(m.spec.input));
  const std::string rule(120, '-');
  absl::StrAppendFormat(&out, "%s\n%-8s %-20s %-56s %-16s %12s %14s\n%s\n", rule, "Part", "Layer",
                        "Type", "Output (C,H,W)", "Params", "MACs/image", rule);
  for (const LayerInfo& l : m.layers) {
    std::string shape = absl::StrCat("(", absl::StrJoin(l.output_shape, ", "), ")");
    // Kind strings contain "→" (3 bytes, 1 column): pad by columns.
    int extra = 0;
    for (size_t i = 0; i + 2 < l.kind.size(); ++i) {
      if (std::memcmp(l.kind.data() + i, "→", 3) == 0) extra += 2;
    }
    absl::StrAppendFormat(&out, "%-8s %-20s %-*s %-16s %12s %14s\n", l.part, l.name, 56 + extra,
                          l.kind, shape, Thousands(l.parameters), Thousands(l.macs));
  }
  absl::StrAppendFormat(&out,
                        "%s\nEncoder: %s parameters, %s MACs/image\nDecoder: %s parameters, %s "
                        "MACs/image\nTotal:   %s parameters, %s MACs/image forward "
                        "(~%.3g GFLOP/image for a training step: 3 x 2 x MACs)\n",
                        rule, Thousands(m.encoder_parameters), Thousands(m.encoder_macs),
                        Thousands(m.decoder_parameters), Thousands(m.decoder_macs),
                        Thousands(m.encoder_parameters + m.decoder_parameters),
                        Thousands(m.encoder_macs + m.decoder_macs),
                        6.0 * static_cast<double>(m.encoder_macs + m.decoder_macs) / 1e9);
  return out;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const ModelSpec& spec,
                                                     const ModelOptions& options) {
  if (absl::Status s = ValidateSpec(spec); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->spec = WithDefaults(spec);
  impl->options = options;
  absl::Status s = CatchTorch("building the model", [&]() -> absl::Status {
    impl->net =
        BuildAutoencoder(impl->spec, options.formulation, options.channels_last, options.seed);
    if (options.use_cuda_if_available && torch::cuda::is_available()) {
      impl->device = torch::Device(torch::kCUDA, 0);
      impl->net->to(impl->device);
    }
    // Inference mode (batch-norm running statistics); training sets train().
    impl->net->eval();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const ModelSpec& Model::spec() const { return impl_->spec; }

int64_t Model::encoder_parameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->net->encoder->parameters()) n += p.numel();
  return n;
}

int64_t Model::decoder_parameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->net->decoder->parameters()) n += p.numel();
  return n;
}

std::string Model::device() const { return impl_->device.str(); }

absl::StatusOr<std::vector<float>> Model::Encode(absl::Span<const float> images, size_t n) {
  const InputShape& in = impl_->spec.input;
  const size_t per = static_cast<size_t>(in.height) * in.width * in.channels;
  if (n == 0 || images.size() != n * per) {
    return absl::InvalidArgumentError(absl::StrCat("Encode: ", images.size(), " floats for ", n,
                                                   " images of ", FormatInputShape(in),
                                                   " (need n >= 1 and n x ", per, ")"));
  }
  std::vector<float> out;
  absl::Status s = CatchTorch("Encode", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    Tensor x = torch::from_blob(const_cast<float*>(images.data()),
                                {static_cast<int64_t>(n), in.channels, in.height, in.width})
                   .to(impl_->device);
    AutoencoderImpl& net = *impl_->net;
    Tensor z = net.embed(x).to(torch::kCPU).contiguous();
    out.assign(z.data_ptr<float>(), z.data_ptr<float>() + z.numel());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<float>> Model::Decode(absl::Span<const float> latents, size_t n) {
  const int64_t latent = impl_->spec.latent_size;
  if (decoder_parameters() == 0) {
    return absl::FailedPreconditionError(
        "Decode: the model has no decoder (an encoder-only checkpoint)");
  }
  if (n == 0 || latents.size() != n * latent) {
    return absl::InvalidArgumentError(absl::StrCat("Decode: ", latents.size(), " floats for ", n,
                                                   " latents of ", latent, " (need n >= 1 and n x ",
                                                   latent, ")"));
  }
  std::vector<float> out;
  absl::Status s = CatchTorch("Decode", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    Tensor z =
        torch::from_blob(const_cast<float*>(latents.data()), {static_cast<int64_t>(n), latent})
            .to(impl_->device);
    Tensor x = impl_->net->decode(z).to(torch::kCPU).contiguous();
    out.assign(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> Model::SerializeWeights() const {
  std::string bytes;
  absl::Status s = CatchTorch("serializing weights", [&]() -> absl::Status {
    bytes = SaveWeights(*impl_->net);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return bytes;
}

absl::StatusOr<std::string> Model::SerializeEncoderWeights() const {
  std::string bytes;
  absl::Status s = CatchTorch("serializing weights", [&]() -> absl::Status {
    bytes = SaveWeights(*impl_->net, /*exclude_prefix=*/"decoder.");
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return bytes;
}

bool Model::has_embedding_head() const { return static_cast<bool>(impl_->net->head); }

absl::Status Model::FitEmbeddingWhitening(absl::Span<const float> images, size_t n,
                                          double shrinkage, bool mirror) {
  const InputShape& in = impl_->spec.input;
  const size_t per = static_cast<size_t>(in.height) * in.width * in.channels;
  if (n < 2 || images.size() != n * per) {
    return absl::InvalidArgumentError(
        absl::StrCat("FitEmbeddingWhitening: ", images.size(), " floats for ", n, " images of ",
                     FormatInputShape(in), " (need n >= 2 and n x ", per, ")"));
  }
  if (!(shrinkage > 0) || !std::isfinite(shrinkage)) {
    return absl::InvalidArgumentError(
        absl::StrCat("whitening shrinkage: ", shrinkage, " is not > 0"));
  }
  return CatchTorch("FitEmbeddingWhitening", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    AutoencoderImpl& net = *impl_->net;
    const bool was_training = net.is_training();
    net.eval();
    std::vector<Tensor> parts;
    constexpr size_t kBatch = 256;
    for (size_t first = 0; first < n; first += kBatch) {
      const int64_t m = static_cast<int64_t>(std::min(kBatch, n - first));
      Tensor x = torch::from_blob(const_cast<float*>(images.data() + first * per),
                                  {m, in.channels, in.height, in.width})
                     .to(impl_->device);
      parts.push_back(net.pooled_latent(x, mirror).to(torch::kFloat));
    }
    net.train(was_training);
    Tensor latents = torch::cat(parts, 0);
    if (!latents.isfinite().all().item<bool>()) {
      return absl::FailedPreconditionError(
          "FitEmbeddingWhitening: the encoder produced non-finite latents");
    }
    auto [mean, projection] = FitWhitening(latents, shrinkage);
    net.SetEmbeddingHead(mean, projection, mirror);
    return absl::OkStatus();
  });
}

absl::Status Model::LoadWeights(absl::string_view bytes) {
  absl::StatusOr<std::map<std::string, Tensor>> stored = ReadArchive(bytes);
  if (!stored.ok()) return stored.status();
  // An embedding head travels as "embedding.mean", "embedding.projection"
  // and "embedding.mirror": install one (shapes checked against the latent
  // size; LoadStoredInto then copies the values), or drop one the weights
  // do not carry. Like dropping the decoder below, this happens before the
  // remaining checks, so a failed load leaves the model unusable: callers
  // load into fresh models (LoadModel).
  {
    auto mean = stored->find("embedding.mean");
    auto projection = stored->find("embedding.projection");
    auto mirror = stored->find("embedding.mirror");
    const int64_t latent = impl_->spec.latent_size;
    const bool any =
        mean != stored->end() || projection != stored->end() || mirror != stored->end();
    if (any && (mean == stored->end() || projection == stored->end() || mirror == stored->end() ||
                mean->second.sizes() != torch::IntArrayRef{latent} ||
                projection->second.sizes() != torch::IntArrayRef{latent, latent} ||
                mirror->second.sizes() != torch::IntArrayRef{1})) {
      return absl::InvalidArgumentError(
          absl::StrCat("weights carry an incomplete or misshapen embedding head (need "
                       "embedding.mean [",
                       latent, "], embedding.projection [", latent, ", ", latent,
                       "] and embedding.mirror [1])"));
    }
    absl::Status s = CatchTorch("installing the embedding head", [&]() -> absl::Status {
      if (any) {
        impl_->net->SetEmbeddingHead(torch::zeros({latent}).to(impl_->device),
                                     torch::eye(latent).to(impl_->device), false);
      } else {
        impl_->net->ClearEmbeddingHead();
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
  }
  const bool has_decoder_weights = std::any_of(stored->begin(), stored->end(), [](const auto& e) {
    return absl::StartsWith(e.first, "decoder.");
  });
  if (!has_decoder_weights && decoder_parameters() > 0) {
    // An encoder-only checkpoint: serve it without a decoder.
    return CatchTorch("dropping the decoder", [&]() -> absl::Status {
      AutoencoderImpl& net = *impl_->net;
      LayerStack empty;
      net.decoder = net.replace_module("decoder", empty);
      return LoadStoredInto(net, *stored);
    });
  }
  return LoadStoredInto(*impl_->net, *stored);
}

ThreadSettings SetThreads(int intra_op, int blas) {
  ThreadSettings set;
  set.intra_op = intra_op > 0 ? intra_op : NumCores();
  set.blas = blas > 0 ? blas : 1;
  torch::set_num_threads(set.intra_op);
  // OpenBLAS keeps its own pool and ignores torch::set_num_threads. Debian
  // links LibTorch against libblas.so.3 (an alternative that may or may not
  // be OpenBLAS), so look the symbol up at run time instead of linking it.
  using SetFn = void (*)(int);
  auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn != nullptr) {
    fn(set.blas);
  } else {
    set.blas = 0;  // Not OpenBLAS: nothing to set.
  }
  return set;
}

void TuneAllocatorForTraining() {
  // 1 GiB: every tensor of these models is served from the heap; freed
  // memory is kept (trim threshold) for the next step's tensors.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // Per-thread arenas are 64 MiB heaps: big blocks from the training
  // thread would still be mapped afresh. One arena (the heap) for all.
  mallopt(M_ARENA_MAX, 1);
}

bool CudaAvailable() {
  try {
    return torch::cuda::is_available();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace latentsearch::model

// The Model handle of model.h over the torch side (torch_model.h): creation,
// Encode/Decode, weights in and out, the embedding head's fit, and Describe.
// The architectures are in architectures.cc, the transposed convolution in
// same_conv_transpose.cc, weights I/O in weights_io.cc, spec parsing in
// model_spec.cc and thread tuning in runtime.cc.
#include "common/model/model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model/torch_errors.h"
#include "common/model/torch_model.h"

namespace latentsearch::model {

using torch::Tensor;

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
  absl::StatusOr<std::map<std::string, Tensor>> stored = ReadWeightsArchive(bytes);
  if (!stored.ok()) return stored.status();
  // An embedding head travels as "embedding.mean", "embedding.projection"
  // and "embedding.mirror": install one (shapes checked against the latent
  // size; LoadTensorsInto then copies the values), or drop one the weights
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
      return LoadTensorsInto(net, *stored);
    });
  }
  return LoadTensorsInto(*impl_->net, *stored);
}

}  // namespace latentsearch::model

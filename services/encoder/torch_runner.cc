// The encoder's only LibTorch translation unit: device resolution and the
// ModelRunner over common/model's Autoencoder. Compiles against LibTorch
// 1.13 (Debian, CPU) and 2.x (CUDA builds define LS_TORCH_CUDA, see
// services/encoder/CMakeLists.txt).
#include <torch/torch.h>

#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/model/autocast.h"
#include "common/model/torch_errors.h"
#include "common/model/torch_model.h"
#include "services/encoder/model_runner.h"

#if defined(LS_TORCH_CUDA)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace latentsearch::encoder {
namespace {

using model::CatchTorch;

bool BuiltWithCuda() {
#if defined(LS_TORCH_CUDA)
  return true;
#else
  return at::hasCUDA();
#endif
}

class TorchRunner final : public ModelRunner {
 public:
  TorchRunner(std::unique_ptr<model::Model> model, bool cuda)
      : model_(std::move(model)),
        net_(model_->impl().net),
        device_(model_->impl().device),
        cuda_(cuda && device_.is_cuda()),
        has_decoder_(model_->decoder_parameters() > 0) {
    net_->eval();
  }

  const model::ModelSpec& spec() const override { return model_->spec(); }
  std::string device() const override { return device_.str(); }
  bool has_decoder() const override { return has_decoder_; }

  // bf16 = CPU (or CUDA) autocast around every forward pass: oneDNN's bf16
  // convolutions and matrix products, the seed's transposed convolutions
  // included through their phase (Conv2d) formulation.
  bool supports_bf16() const override { return true; }
  absl::Status SetPrecision(model::Precision precision) override {
    if (precision == model::Precision::kAuto) {
      return absl::InvalidArgumentError("SetPrecision takes fp32 or bf16, not auto");
    }
    bf16_ = precision == model::Precision::kBFloat16;
    return absl::OkStatus();
  }
  model::Precision precision() const override {
    return bf16_ ? model::Precision::kBFloat16 : model::Precision::kFloat32;
  }

  absl::Status Encode(absl::Span<const float> images, size_t n,
                      absl::Span<float> latents) override {
    return RunEncoder(images, n, latents, {});
  }

  absl::Status EncodeWithLatents(absl::Span<const float> images, size_t n,
                                 absl::Span<float> embeddings, absl::Span<float> latents) override {
    if (latents.size() != embeddings.size()) {
      return absl::InternalError("EncodeWithLatents: latents and embeddings differ in size");
    }
    return RunEncoder(images, n, embeddings, latents);
  }

  absl::Status Decode(absl::Span<const float> latents, size_t n,
                      absl::Span<float> images) override {
    const model::InputShape& in = spec().input;
    const size_t per = static_cast<size_t>(in.height) * in.width * in.channels;
    const int64_t latent = spec().latent_size;
    if (n == 0 || latents.size() != n * latent || images.size() != n * per) {
      return absl::InternalError(absl::StrCat("Decode: ", latents.size(), " input and ",
                                              images.size(), " output floats for ", n, " latents"));
    }
    return CatchTorch("Decode", [&]() -> absl::Status {
      StreamScope stream(cuda_, device_);
      torch::InferenceMode inference;
      model::AutocastScope autocast(bf16_, cuda_);
      torch::Tensor z = ToDevice(latents, {static_cast<int64_t>(n), latent});
      torch::Tensor x = net_->decode(z);
      CopyOut(x, images);
      return absl::OkStatus();
    });
  }

 private:
  // One forward pass: the served embeddings and, when `latents` is not
  // empty (then sized as `embeddings`), the encoder's latents.
  absl::Status RunEncoder(absl::Span<const float> images, size_t n, absl::Span<float> embeddings,
                          absl::Span<float> latents) {
    const model::InputShape& in = spec().input;
    const size_t per = static_cast<size_t>(in.height) * in.width * in.channels;
    const size_t latent = static_cast<size_t>(spec().latent_size);
    if (n == 0 || images.size() != n * per || embeddings.size() != n * latent) {
      return absl::InternalError(absl::StrCat("Encode: ", images.size(), " input and ",
                                              embeddings.size(), " output floats for ", n,
                                              " images"));
    }
    return CatchTorch("Encode", [&]() -> absl::Status {
      StreamScope stream(cuda_, device_);
      torch::InferenceMode inference;
      model::AutocastScope autocast(bf16_, cuda_);
      torch::Tensor x =
          ToDevice(images, {static_cast<int64_t>(n), in.channels, in.height, in.width});
      torch::Tensor z;
      CopyOut(net_->embed(x, latents.empty() ? nullptr : &z), embeddings);
      if (!latents.empty()) CopyOut(z, latents);
      return absl::OkStatus();
    });
  }

  // On CUDA: makes this thread's own stream current for the scope (one
  // stream per batcher thread, so concurrent batches overlap).
  class StreamScope {
   public:
    StreamScope(bool cuda, const torch::Device& device) {
#if defined(LS_TORCH_CUDA)
      if (cuda) {
        thread_local std::optional<c10::cuda::CUDAStream> stream;
        if (!stream.has_value()) {
          stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
        }
        guard_.emplace(*stream);
      }
#else
      (void)cuda;
      (void)device;
#endif
    }

   private:
#if defined(LS_TORCH_CUDA)
    std::optional<c10::cuda::CUDAStreamGuard> guard_;
#endif
  };

  // Host floats → a tensor on the model's device. On CUDA the host copy is
  // made in pinned memory so the upload is asynchronous on the stream.
  torch::Tensor ToDevice(absl::Span<const float> host, std::vector<int64_t> shape) const {
    torch::Tensor cpu = torch::from_blob(const_cast<float*>(host.data()), shape,
                                         torch::TensorOptions().dtype(torch::kFloat32));
    if (!cuda_) return cpu;
    return cpu.pin_memory().to(device_, /*non_blocking=*/true);
  }

  // A device tensor → host floats (synchronous: the copy waits for the
  // stream).
  static void CopyOut(const torch::Tensor& t, absl::Span<float> out) {
    torch::Tensor host = t.to(torch::kCPU, torch::kFloat).contiguous();
    std::memcpy(out.data(), host.data_ptr<float>(), out.size() * sizeof(float));
  }

  const std::unique_ptr<model::Model> model_;
  model::Autoencoder net_;
  const torch::Device device_;
  const bool cuda_;
  const bool has_decoder_;
  bool bf16_ = false;  // Set before serving (SetPrecision).
};

}  // namespace

absl::StatusOr<DeviceChoice> ResolveDevice(absl::string_view requested) {
  DeviceChoice choice;
  choice.requested = std::string(requested);
  if (requested != "auto" && requested != "cpu" && requested != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device='", requested, "'; expected auto, cpu or cuda"));
  }
  if (requested == "cpu") return choice;
  std::string why;
  if (!BuiltWithCuda()) {
    why = "LibTorch was built without CUDA";
  } else if (!model::CudaAvailable()) {
    why = "LibTorch has CUDA but sees no CUDA device";
  }
  if (why.empty()) {
    choice.use_cuda = true;
    choice.device = "cuda:0";
    return choice;
  }
  if (requested == "cuda") {
    return absl::FailedPreconditionError(
        absl::StrCat("--device=cuda: ", why, "; use --device=auto or --device=cpu"));
  }
  choice.note = why;
  return choice;
}

RunnerFactory TorchRunnerFactory(const DeviceChoice& device) {
  return [device](
             const model::Checkpoint& checkpoint) -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
    model::ModelOptions options;
    options.use_cuda_if_available = device.use_cuda;
    absl::StatusOr<std::unique_ptr<model::Model>> m = model::LoadModel(checkpoint, options);
    if (!m.ok()) return m.status();
    std::unique_ptr<ModelRunner> runner;
    absl::Status s = CatchTorch("preparing the model", [&]() -> absl::Status {
      runner = std::make_unique<TorchRunner>(*std::move(m), device.use_cuda);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return runner;
  };
}

}  // namespace latentsearch::encoder

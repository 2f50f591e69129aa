// How the encoder runs a model: a small interface so that the batcher,
// registry, core, gRPC adapter and main stay free of LibTorch headers. The
// LibTorch implementation lives in torch_runner.cc (the only translation
// unit of the encoder that includes torch); tests may plug in fakes.
//
// Devices: --device=auto|cpu|cuda is resolved once at start (ResolveDevice).
// With a CUDA build of LibTorch and a visible device, batches run on
// cuda:0: inputs are staged in pinned host memory and copied asynchronously
// on a CUDA stream of the calling (batcher) thread; each batcher thread has
// its own stream. Debian's LibTorch is CPU-only, so "auto" falls back to the
// CPU and says why (DeviceChoice::note).
#ifndef LATENTSEARCH_SERVICES_ENCODER_MODEL_RUNNER_H_
#define LATENTSEARCH_SERVICES_ENCODER_MODEL_RUNNER_H_

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/model/checkpoint.h"
#include "common/model/precision.h"

namespace latentsearch::encoder {

// Where models run, decided once per process.
struct DeviceChoice {
  std::string requested = "auto";  // "auto", "cpu" or "cuda".
  bool use_cuda = false;
  std::string device = "cpu";  // "cpu" or "cuda:0".
  // Why `device` is not what was requested ("" when it is), e.g.
  // "LibTorch was built without CUDA".
  std::string note;
};

// Resolves --device. "cuda" without a usable CUDA device is
// FAILED_PRECONDITION (saying why); an unknown name INVALID_ARGUMENT.
// Defined in torch_runner.cc.
absl::StatusOr<DeviceChoice> ResolveDevice(absl::string_view requested);

// One loaded model version.
// Thread-safety: Encode and Decode may be called from several threads at
// once (forward passes in inference mode only read the parameters);
// SetPrecision only before serving.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // With defaults filled in.
  virtual const model::ModelSpec& spec() const = 0;
  // "cpu" or "cuda:N".
  virtual std::string device() const = 0;
  virtual bool has_decoder() const = 0;

  // The precision Encode and Decode compute in (model/precision.h): fp32
  // unless SetPrecision chose bf16. Runners that cannot compute in bf16
  // (the default) answer false to supports_bf16 and UNIMPLEMENTED to
  // SetPrecision(kBFloat16). SetPrecision must not run concurrently with
  // Encode/Decode (the registry calls it before a version is published).
  virtual bool supports_bf16() const { return false; }
  virtual absl::Status SetPrecision(model::Precision precision) {
    if (precision == model::Precision::kFloat32) return absl::OkStatus();
    return absl::UnimplementedError("this model runner computes in fp32 only");
  }
  virtual model::Precision precision() const { return model::Precision::kFloat32; }

  // images: n × C × H × W floats (normalised); latents: n × latent_size
  // floats, written. INTERNAL when LibTorch fails.
  virtual absl::Status Encode(absl::Span<const float> images, size_t n,
                              absl::Span<float> latents) = 0;
  // latents: n × latent_size; images: n × C × H × W, written.
  virtual absl::Status Decode(absl::Span<const float> latents, size_t n,
                              absl::Span<float> images) = 0;
  // As Encode, and also writes the encoder's latents (n × latent_size),
  // the decoder's input: they differ from the embeddings when the model has
  // an embedding head (model.h), so Reconstruct decodes these. One forward
  // pass. The default (runners without heads) copies the embeddings.
  virtual absl::Status EncodeWithLatents(absl::Span<const float> images, size_t n,
                                         absl::Span<float> embeddings, absl::Span<float> latents) {
    if (latents.size() != embeddings.size()) {
      return absl::InternalError("EncodeWithLatents: latents and embeddings differ in size");
    }
    absl::Status s = Encode(images, n, embeddings);
    if (!s.ok()) return s;
    std::copy(embeddings.begin(), embeddings.end(), latents.begin());
    return absl::OkStatus();
  }
};

// Builds a runner from a verified checkpoint. INVALID_ARGUMENT for an
// unknown architecture or weights that do not fit it.
using RunnerFactory =
    std::function<absl::StatusOr<std::unique_ptr<ModelRunner>>(const model::Checkpoint&)>;

// The LibTorch factory for `device` (torch_runner.cc).
RunnerFactory TorchRunnerFactory(const DeviceChoice& device);

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_MODEL_RUNNER_H_

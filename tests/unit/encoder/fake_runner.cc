#include "tests/unit/encoder/fake_runner.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace latentsearch::encoder::testing {
namespace {

class FakeRunner final : public ModelRunner {
 public:
  FakeRunner(model::ModelSpec spec, char marker, bool fail_encode, std::shared_ptr<RunnerLog> log)
      : spec_(std::move(spec)), marker_(marker), fail_encode_(fail_encode), log_(std::move(log)) {}
  const model::ModelSpec& spec() const override { return spec_; }
  std::string device() const override { return "cpu"; }
  bool has_decoder() const override { return true; }

  absl::Status Encode(absl::Span<const float> images, size_t n,
                      absl::Span<float> latents) override {
    const size_t per =
        static_cast<size_t>(spec_.input.height) * spec_.input.width * spec_.input.channels;
    const size_t latent = static_cast<size_t>(spec_.latent_size);
    if (images.size() != n * per || latents.size() != n * latent) {
      return absl::InternalError("FakeRunner::Encode: wrong sizes");
    }
    if (fail_encode_) return absl::ResourceExhaustedError("FakeRunner: device out of memory");
    {
      std::lock_guard<std::mutex> l(log_->mu);
      log_->encode_sizes.push_back(n);
    }
    for (size_t i = 0; i < n; ++i) {
      std::vector<float> image(images.begin() + i * per, images.begin() + (i + 1) * per);
      for (size_t j = 0; j < latent; ++j) {
        latents[i * latent + j] = FakeLatent(image, static_cast<int>(j), marker_);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Decode(absl::Span<const float> latents, size_t n,
                      absl::Span<float> images) override {
    const size_t per =
        static_cast<size_t>(spec_.input.height) * spec_.input.width * spec_.input.channels;
    const size_t latent = static_cast<size_t>(spec_.latent_size);
    if (latents.size() != n * latent || images.size() != n * per) {
      return absl::InternalError("FakeRunner::Decode: wrong sizes");
    }
    {
      std::lock_guard<std::mutex> l(log_->mu);
      log_->decode_sizes.push_back(n);
    }
    for (size_t i = 0; i < n; ++i) {
      for (size_t k = 0; k < per; ++k) images[i * per + k] = latents[i * latent];
    }
    return absl::OkStatus();
  }

 private:
  const model::ModelSpec spec_;
  const char marker_;
  const bool fail_encode_;
  const std::shared_ptr<RunnerLog> log_;
};

}  // namespace

float FakeLatent(const std::vector<float>& image, int j, char marker) {
  double sum = 0;
  for (float v : image) sum += v;
  return static_cast<float>(marker) +
         static_cast<float>(j + 1) * static_cast<float>(sum / image.size());
}

RunnerFactory FakeRunnerFactory(std::shared_ptr<RunnerLog> log) {
  return [log](const model::Checkpoint& c) -> absl::StatusOr<std::unique_ptr<ModelRunner>> {
    if (absl::StartsWith(c.weights, "bad")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weights do not load into '", c.metadata.architecture, "': parameter missing"));
    }
    {
      std::lock_guard<std::mutex> l(log->mu);
      ++log->created;
    }
    return std::unique_ptr<ModelRunner>(std::make_unique<FakeRunner>(
        model::WithDefaults(c.metadata.spec()), c.weights.empty() ? 0 : c.weights[0],
        absl::StartsWith(c.weights, "nowarm"), log));
  };
}

model::Checkpoint FakeCheckpoint(const std::string& name, uint64_t version,
                                 const std::string& weights, const std::string& arch,
                                 model::InputShape shape, int latent) {
  model::CheckpointMetadata m;
  m.model_name = name;
  m.version = version;
  m.architecture = arch;
  m.latent_size = latent;
  m.input_shape = shape;
  m.dataset = "fake";
  return model::MakeCheckpoint(std::move(m), weights);
}

}  // namespace latentsearch::encoder::testing

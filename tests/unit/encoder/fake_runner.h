// A ModelRunner without LibTorch for the encoder's tests: outputs are a
// cheap deterministic function of the inputs and of the checkpoint's
// weights (so versions are told apart), and every call is logged.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_TESTS_UNIT_ENCODER_FAKE_RUNNER_H_
#define LATENTSEARCH_TESTS_UNIT_ENCODER_FAKE_RUNNER_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/model/checkpoint.h"
#include "services/encoder/model_runner.h"

namespace latentsearch::encoder::testing {

// What the fake runners were asked to do.
struct RunnerLog {
  std::mutex mu;
  std::vector<size_t> encode_sizes ABSL_GUARDED_BY(mu);
  std::vector<size_t> decode_sizes ABSL_GUARDED_BY(mu);
  int created ABSL_GUARDED_BY(mu) = 0;

  std::vector<size_t> EncodeSizes() {
    std::lock_guard<std::mutex> l(mu);
    return encode_sizes;
  }
  void Clear() {
    std::lock_guard<std::mutex> l(mu);
    encode_sizes.clear();
    decode_sizes.clear();
  }
};

// Latent j of an image = marker + (j + 1) × mean(input), where marker is the
// first byte of the weights. Decode fills every pixel with latent 0.
float FakeLatent(const std::vector<float>& image, int j, char marker);

// weights starting with "bad" → INVALID_ARGUMENT (they "do not load");
// starting with "nowarm" → a runner whose Encode fails (RESOURCE_EXHAUSTED),
// so its warm-up fails.
RunnerFactory FakeRunnerFactory(std::shared_ptr<RunnerLog> log);

// A checkpoint of architecture `arch` (latent 4, 8×8×1 by default) whose
// weights are `weights`, with sha256 and size filled in.
model::Checkpoint FakeCheckpoint(const std::string& name, uint64_t version,
                                 const std::string& weights, const std::string& arch = "conv",
                                 model::InputShape shape = {8, 8, 1}, int latent = 4);

}  // namespace latentsearch::encoder::testing

#endif  // LATENTSEARCH_TESTS_UNIT_ENCODER_FAKE_RUNNER_H_

// Model::LoadWeights on arbitrary bytes: the weights blob of a checkpoint
// (a LibTorch archive). A pushed checkpoint's weights reach LoadWeights once
// their SHA-256 matches the metadata the client sent, so the bytes are the
// client's. LibTorch throws on bad archives; LoadWeights must turn that
// into a status (DATA_LOSS / INVALID_ARGUMENT), never crash.
// The first byte picks one of two small models; the rest is the blob.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/model/model.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch;
using latentsearch::fuzz::Violation;

model::Model& ModelFor(int which) {
  static model::Model* models[2] = {nullptr, nullptr};
  if (models[which] == nullptr) {
    model::ModelSpec spec;
    spec.architecture = which == 0 ? "conv" : "seed";
    spec.latent_size = 4;
    spec.input = which == 0 ? model::InputShape{8, 8, 1} : model::InputShape{16, 16, 3};
    auto m = model::Model::Create(spec);
    if (!m.ok()) Violation("cannot create the model: " + m.status().ToString());
    models[which] = m->release();
  }
  return *models[which];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  model::Model& m = ModelFor(data[0] % 2);
  absl::Status s =
      m.LoadWeights(absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (!s.ok() && s.code() != absl::StatusCode::kDataLoss &&
      s.code() != absl::StatusCode::kInvalidArgument) {
    Violation(absl::StrCat("LoadWeights: unexpected ", s.ToString()));
  }
  return 0;
}

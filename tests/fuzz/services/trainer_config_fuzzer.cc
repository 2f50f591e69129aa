// Trainer request validation on arbitrary proto bytes: TrainingConfig ->
// ResolveConfig (services/trainer/training_config_proto.h) -> the model spec and
// ValidateTrainConfig against a small in-memory data set of the resolved
// shape, as StartTraining runs them (without reading a data set from the
// path the request names).
// Nothing may crash; a bad config is INVALID_ARGUMENT; an accepted one
// plans at least one step.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "latentsearch/v1/trainer.pb.h"
#include "services/trainer/training.h"
#include "services/trainer/training_config_proto.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch;
using latentsearch::fuzz::Violation;

void MustBeInvalidArgument(const absl::Status& s, const char* what) {
  if (!s.ok() && s.code() != absl::StatusCode::kInvalidArgument) {
    Violation(absl::StrCat(what, ": unexpected ", s.ToString()));
  }
}

}  // namespace

// Invalid UTF-8 in string fields is a parse failure; protobuf also logs
// each one, which would drown libFuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::TrainingConfig config;
  if (!config.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<trainer::ResolvedConfig> r = trainer::ResolveConfig(config, 1);
  MustBeInvalidArgument(r.status(), "ResolveConfig");
  if (!r.ok()) return 0;
  // The effective config must itself resolve (it is shown to clients as
  // Job.config and may be resubmitted).
  absl::StatusOr<trainer::ResolvedConfig> again = trainer::ResolveConfig(r->effective, 1);
  if (!again.ok()) {
    Violation("the effective config does not resolve: " + again.status().ToString());
  }
  // A data set as StartTraining would have read: the explicit shape, or a
  // small default; two images.
  model::InputShape& in = r->train.model.input;
  if (in.height == 0) in.height = 16;
  if (in.width == 0) in.width = 16;
  if (in.channels == 0) in.channels = 1;
  if (absl::Status s = model::ValidateSpec(r->train.model); !s.ok()) {
    MustBeInvalidArgument(s, "ValidateSpec");
    return 0;
  }
  data::Dataset dataset;
  dataset.source = "fuzz";
  dataset.height = in.height;
  dataset.width = in.width;
  dataset.channels = in.channels;
  const size_t bytes = dataset.image_bytes();
  if (bytes > (1u << 20)) return 0;
  const size_t n = 2 + config.dataset().max_images() % 3;
  dataset.pixels.assign(n * bytes, 7);
  dataset.labels.assign(n, data::kNoLabel);
  absl::Status s = trainer::ValidateTrainConfig(r->train, dataset);
  MustBeInvalidArgument(s, "ValidateTrainConfig");
  if (s.ok()) {
    const trainer::TrainingPlan plan = trainer::PlanTraining(r->train, n);
    if (plan.train_images == 0 || plan.total_steps == 0 ||
        plan.train_images + plan.validation_images != n) {
      Violation(absl::StrCat("an accepted config plans no training: train ", plan.train_images,
                             ", steps ", plan.total_steps));
    }
  }
  return 0;
}

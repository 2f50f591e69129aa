// FakeEncoder: FakeEncoderService whose pushes must load with LibTorch.
#include "tests/unit/trainer/fake_encoder.h"

#include <string>
#include <utility>

#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "common/model/model.h"

namespace latentsearch::trainer::testing {
namespace {

absl::Status LoadsIntoItsArchitecture(const v1::CheckpointMetadata& metadata,
                                      absl::string_view weights) {
  model::Checkpoint c{model::CheckpointMetadataFromProto(metadata), std::string(weights)};
  absl::StatusOr<std::unique_ptr<model::Model>> m = model::LoadModel(c);
  return m.status();
}

::latentsearch::testing::FakeEncoderService::Options PushOptions() {
  ::latentsearch::testing::FakeEncoderService::Options options;
  options.check_checkpoint = LoadsIntoItsArchitecture;
  return options;
}

}  // namespace

FakeEncoder::FakeEncoder() : FakeEncoderService(PushOptions()) {}

absl::StatusOr<std::unique_ptr<FakeEncoder>> FakeEncoder::Start() {
  std::unique_ptr<FakeEncoder> e(new FakeEncoder());
  absl::Status s = e->Serve();
  if (!s.ok()) return s;
  return e;
}

}  // namespace latentsearch::trainer::testing

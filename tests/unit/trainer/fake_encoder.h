// FakeEncoder for trainer tests: the shared fake encoder
// (common/testing/fake_encoder_service.h) with one more check on pushes,
// the one the real encoder makes last: the weights load (model::LoadModel)
// into the architecture the metadata names.
// Thread-safety: thread-safe (as FakeEncoderService).
#ifndef LATENTSEARCH_TESTS_UNIT_TRAINER_FAKE_ENCODER_H_
#define LATENTSEARCH_TESTS_UNIT_TRAINER_FAKE_ENCODER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/testing/fake_encoder_service.h"

namespace latentsearch::trainer::testing {

class FakeEncoder final : public ::latentsearch::testing::FakeEncoderService {
 public:
  // Starts a server with this service on 127.0.0.1:0.
  static absl::StatusOr<std::unique_ptr<FakeEncoder>> Start();

 private:
  FakeEncoder();
};

}  // namespace latentsearch::trainer::testing

#endif  // LATENTSEARCH_TESTS_UNIT_TRAINER_FAKE_ENCODER_H_

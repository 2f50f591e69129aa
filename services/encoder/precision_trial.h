// The encoder's --precision=auto trial for one model version: encodes
// seeded probe images (probe_images.h) in fp32 and in bf16, times both
// through an injectable timer, checks the serving guards (every image's
// bf16 embedding within cosine model::kMinEmbeddingCosine of its fp32
// one; the mean top-10 neighbour overlap among the probe images at least
// model::kMinNeighbourOverlap, by L2 and by cosine) and sets the runner to
// the faster safe precision (model/precision.h has the rule). No LibTorch:
// it drives a ModelRunner.
// Thread-safety: call before the runner serves (it switches the runner's
// precision).
#ifndef LATENTSEARCH_SERVICES_ENCODER_PRECISION_TRIAL_H_
#define LATENTSEARCH_SERVICES_ENCODER_PRECISION_TRIAL_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/image/preprocess.h"
#include "common/model/precision.h"
#include "services/encoder/model_runner.h"

namespace latentsearch::encoder {

struct ServingTrialOptions {
  // kAuto runs the trial; kFloat32 / kBFloat16 are set as asked (bf16 on
  // a runner without it falls back to fp32, logged).
  model::Precision requested = model::Precision::kAuto;
  // Probe images encoded per precision, in batches of batch_size (>= 1),
  // after one untimed warm-up batch.
  size_t probe_images = 64;
  size_t batch_size = 32;
  // nullptr = model::WallTimer().
  model::PrecisionTimer timer;
  // Recorded as the choice's decided_at.
  absl::Time now = absl::InfinitePast();
};

// Chooses the precision of `runner` (whose model takes `spec` and answers
// `latent_size` floats per image) and sets it. Errors: the runner's
// Encode / SetPrecision errors (the version does not load).
absl::StatusOr<model::PrecisionChoice> ChooseServingPrecision(ModelRunner& runner,
                                                              const image::InputSpec& spec,
                                                              int latent_size,
                                                              const ServingTrialOptions& options);

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_PRECISION_TRIAL_H_

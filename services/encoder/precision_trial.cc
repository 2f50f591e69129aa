// ChooseServingPrecision (precision_trial.h).
#include "services/encoder/precision_trial.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "services/encoder/probe_images.h"

namespace latentsearch::encoder {
namespace {

using model::Precision;

// Encodes images [first, first + count) into `out` (count × latent).
absl::Status EncodeRange(ModelRunner& runner, const std::vector<float>& images, size_t per,
                         size_t latent, size_t first, size_t count, std::vector<float>* out) {
  return runner.Encode(absl::MakeConstSpan(images.data() + first * per, count * per), count,
                       absl::MakeSpan(out->data() + first * latent, count * latent));
}

absl::StatusOr<model::PrecisionChoice> Trial(ModelRunner& runner, const image::InputSpec& spec,
                                             size_t latent, const ServingTrialOptions& o) {
  model::PrecisionChoice choice;
  choice.measured = true;
  const size_t n = std::max<size_t>(2, o.probe_images);
  const size_t batch = std::clamp<size_t>(o.batch_size, 1, n);
  const size_t batches = (n + batch - 1) / batch;
  choice.trial_units = static_cast<int>(batches);
  choice.trial_batch = static_cast<int>(batch);
  const size_t per = spec.floats_per_image();
  const std::vector<float> images = ProbeImages(spec, n);
  const model::PrecisionTimer timer = o.timer ? o.timer : model::WallTimer();
  std::vector<float> emb[2] = {std::vector<float>(n * latent), std::vector<float>(n * latent)};
  for (Precision p : {Precision::kFloat32, Precision::kBFloat16}) {
    const bool bf16 = p == Precision::kBFloat16;
    std::vector<float>* out = &emb[bf16 ? 1 : 0];
    LS_RETURN_IF_ERROR(runner.SetPrecision(p));
    LS_RETURN_IF_ERROR(EncodeRange(runner, images, per, latent, 0, batch, out));  // Warm-up.
    LS_ASSIGN_OR_RETURN(const double seconds, timer(p, [&]() -> absl::Status {
                          for (size_t first = 0; first < n; first += batch) {
                            LS_RETURN_IF_ERROR(EncodeRange(runner, images, per, latent, first,
                                                           std::min(batch, n - first), out));
                          }
                          return absl::OkStatus();
                        }));
    (bf16 ? choice.bf16_seconds : choice.fp32_seconds) = seconds / static_cast<double>(batches);
  }
  const model::EmbeddingAgreement a = model::CompareEmbeddings(emb[0], emb[1], n, latent);
  choice.min_cosine = a.min_cosine;
  choice.neighbour_overlap = a.neighbour_overlap;
  choice.bf16_safe = a.min_cosine >= model::kMinEmbeddingCosine &&
                     a.neighbour_overlap >= model::kMinNeighbourOverlap;
  model::DecidePrecision(
      &choice,
      absl::StrFormat("lowest embedding cosine %.5f (bound %.3f), top-%d overlap %.3f (bound %.2f)",
                      a.min_cosine, model::kMinEmbeddingCosine, model::kOverlapNeighbours,
                      a.neighbour_overlap, model::kMinNeighbourOverlap));
  return choice;
}

}  // namespace

absl::StatusOr<model::PrecisionChoice> ChooseServingPrecision(ModelRunner& runner,
                                                              const image::InputSpec& spec,
                                                              int latent_size,
                                                              const ServingTrialOptions& o) {
  model::PrecisionChoice choice = model::FixedChoice(o.requested);
  if (o.requested == Precision::kAuto) {
    if (runner.supports_bf16()) {
      LS_ASSIGN_OR_RETURN(choice, Trial(runner, spec, static_cast<size_t>(latent_size), o));
    } else {
      choice.reason = "the model runner computes in fp32 only: fp32";
    }
  } else if (o.requested == Precision::kBFloat16 && !runner.supports_bf16()) {
    LOG(WARNING) << "--precision=bf16 asked, but the model runner computes in fp32 only: fp32";
    choice.chosen = Precision::kFloat32;
    choice.bf16_safe = false;
    choice.reason = "bf16 asked, but the model runner computes in fp32 only: fp32";
  }
  choice.requested = o.requested;
  choice.decided_at = o.now;
  LS_RETURN_IF_ERROR(runner.SetPrecision(choice.chosen));
  return choice;
}

}  // namespace latentsearch::encoder

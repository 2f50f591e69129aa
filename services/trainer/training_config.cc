// The plain (no LibTorch) half of training.h: validation, planning and
// data-set conversion.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/image/image.h"
#include "services/trainer/training.h"
#include "services/trainer/training_defaults.h"

namespace latentsearch::trainer {
namespace {

absl::Status Field(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// A probability field of the views: in [0, 1].
absl::Status Probability(absl::string_view field, double p) {
  if (p >= 0 && p <= 1) return absl::OkStatus();
  return Field(field, absl::StrCat(p, " is outside [0, 1]"));
}

}  // namespace

absl::Status ValidateViews(const AugmentOptions& v) {
  if (!(v.min_scale > 0 && v.min_scale <= v.max_scale && v.max_scale <= 1)) {
    return Field("views.min_crop_scale",
                 absl::StrCat(v.min_scale, " is outside (0, ", v.max_scale, "]"));
  }
  if (!(v.min_ratio > 0 && v.min_ratio <= v.max_ratio && std::isfinite(v.max_ratio))) {
    return Field("views.ratio", absl::StrCat("[", v.min_ratio, ", ", v.max_ratio,
                                             "] is not a range of positive ratios"));
  }
  LS_RETURN_IF_ERROR(Probability("views.flip_probability", v.flip_probability));
  LS_RETURN_IF_ERROR(Probability("views.jitter_probability", v.jitter_probability));
  LS_RETURN_IF_ERROR(Probability("views.grayscale_probability", v.grayscale_probability));
  for (double s : {v.brightness, v.contrast, v.saturation}) {
    if (!(s >= 0 && s < 1)) {
      return Field("views.jitter_strength", absl::StrCat(s, " is outside [0, 1)"));
    }
  }
  return absl::OkStatus();
}

namespace {

// The fields that need no data set: model, optimisation, run limits.
absl::Status ValidateTraining(const TrainConfig& c) {
  if (c.model.latent_size == 0) {
    return Field("latent_size",
                 absl::StrCat("0 is not a latent size; allowed 1..", model::kMaxLatentSize));
  }
  const model::InputShape& in = c.model.input;
  if (in.height <= 0 || in.width <= 0 || in.channels <= 0) {
    return Field("input_shape", absl::StrCat(model::FormatInputShape(in),
                                             " is incomplete; every dimension must be >= 1"));
  }
  LS_RETURN_IF_ERROR(model::ValidateSpec(c.model));
  if (c.batch_size < 1 || c.batch_size > kMaxBatchSize) {
    return Field("batch_size", absl::StrCat(c.batch_size, " is outside 1..", kMaxBatchSize));
  }
  if (c.epochs < 1 || c.epochs > kMaxEpochs) {
    return Field("epochs", absl::StrCat(c.epochs, " is outside 1..", kMaxEpochs));
  }
  if (!std::isfinite(c.learning_rate) || c.learning_rate <= 0) {
    return Field("learning_rate", absl::StrCat(c.learning_rate, " must be finite and > 0"));
  }
  if (!std::isfinite(c.weight_decay) || c.weight_decay < 0) {
    return Field("weight_decay", absl::StrCat(c.weight_decay, " must be finite and >= 0"));
  }
  if (!(c.validation_fraction >= 0 && c.validation_fraction <= kMaxValidationFraction)) {
    return Field("validation_fraction", absl::StrCat(c.validation_fraction, " is outside [0, ",
                                                     kMaxValidationFraction, "]"));
  }
  if (c.threads < 0 || c.threads > kMaxThreads || c.blas_threads < 0 ||
      c.blas_threads > kMaxThreads) {
    return Field("threads",
                 absl::StrCat(c.threads, " is outside 0..", kMaxThreads, " (0 = the cores)"));
  }
  if (!std::isfinite(c.time_budget_seconds) || c.time_budget_seconds < 0) {
    return Field("time_budget_seconds",
                 absl::StrCat(c.time_budget_seconds, " must be finite and >= 0"));
  }
  if (c.eval_batch_size < 1) {
    return Field("eval_batch_size", absl::StrCat(c.eval_batch_size, " must be >= 1"));
  }
  if (c.precision_trial_steps < 1 || c.precision_trial_steps > 100) {
    return Field("precision_trial_steps",
                 absl::StrCat(c.precision_trial_steps, " is outside 1..100"));
  }
  return absl::OkStatus();
}

// The objective's and the embedding's fields.
absl::Status ValidateObjective(const TrainConfig& c) {
  if (!(c.temperature > 0 && c.temperature <= kMaxTemperature)) {
    return Field("temperature",
                 absl::StrCat(c.temperature, " is outside (0, ", kMaxTemperature, "]"));
  }
  if (!std::isfinite(c.reconstruction_weight) || c.reconstruction_weight < 0) {
    return Field("reconstruction_weight",
                 absl::StrCat(c.reconstruction_weight, " must be finite and >= 0"));
  }
  if (!(c.warmup_fraction >= 0 && c.warmup_fraction <= kMaxWarmupFraction)) {
    return Field("warmup_fraction",
                 absl::StrCat(c.warmup_fraction, " is outside [0, ", kMaxWarmupFraction, "]"));
  }
  if (c.objective == Objective::kContrastive && c.batch_size < 2) {
    return Field("batch_size", absl::StrCat(c.batch_size,
                                            ": the contrastive objective needs >= 2 images "
                                            "per batch (other images are the negatives)"));
  }
  if (c.objective == Objective::kContrastive) {
    LS_RETURN_IF_ERROR(ValidateViews(c.views));
  }
  if (c.embedding == Embedding::kWhitened) {
    if (!(c.whitening_shrinkage > 0) || !std::isfinite(c.whitening_shrinkage)) {
      return Field("embedding", absl::StrCat("whitening shrinkage ", c.whitening_shrinkage,
                                             " must be finite and > 0"));
    }
    if (c.whitening_images < 2) {
      return Field("embedding",
                   absl::StrCat("whitening needs >= 2 images, not ", c.whitening_images));
    }
  }
  if (c.projection_hidden < 1 || c.projection_dim < 1) {
    return Field("projection", "hidden and output sizes must be >= 1");
  }
  return absl::OkStatus();
}

// `dataset` against the config: not empty, well-formed, in the model's
// input shape, and large enough for the split.
absl::Status ValidateData(const TrainConfig& c, const data::Dataset& dataset) {
  if (dataset.size() == 0) {
    return Field("dataset", absl::StrCat("the data set '", dataset.source, "' holds no images"));
  }
  if (absl::Status s = data::Validate(dataset); !s.ok()) {
    return Field("dataset", s.message());
  }
  const model::InputShape& in = c.model.input;
  const model::InputShape data_shape{dataset.height, dataset.width, dataset.channels};
  if (data_shape != in) {
    return Field("input_shape", absl::StrCat("the model takes ", model::FormatInputShape(in),
                                             " but the data set's images are ",
                                             model::FormatInputShape(data_shape),
                                             " (convert the data set first)"));
  }
  if (PlanTraining(c, dataset.size()).train_images == 0) {
    return Field("validation_fraction", absl::StrCat(c.validation_fraction, " of ", dataset.size(),
                                                     " images leaves none for training"));
  }
  if (c.embedding == Embedding::kWhitened && PlanTraining(c, dataset.size()).train_images < 2) {
    return Field("embedding", absl::StrCat("whitening needs >= 2 training images; ", dataset.size(),
                                           " images with validation_fraction ",
                                           c.validation_fraction, " leave 1"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTrainConfig(const TrainConfig& c, const data::Dataset& dataset) {
  LS_RETURN_IF_ERROR(ValidateTraining(c));
  LS_RETURN_IF_ERROR(ValidateObjective(c));
  return ValidateData(c, dataset);
}

const char* ObjectiveName(Objective objective) {
  switch (objective) {
    case Objective::kReconstruction:
      return "reconstruction";
    case Objective::kDenoising:
      return "denoising";
    case Objective::kContrastive:
      return "contrastive";
  }
  return "?";
}

TrainingPlan PlanTraining(const TrainConfig& c, uint64_t n) {
  TrainingPlan p;
  if (n == 0) return p;
  const double frac = std::clamp(c.validation_fraction, 0.0, kMaxValidationFraction);
  p.validation_images = std::min<uint64_t>(n - 1, static_cast<uint64_t>(std::llround(frac * n)));
  p.train_images = n - p.validation_images;
  const uint64_t batch = std::max(1, c.batch_size);
  // DistributedSampler: each of W ranks takes ceil(train / W) images of the
  // epoch's order (the order padded by wrapping around), in batches of
  // batch_size.
  const uint64_t world = static_cast<uint64_t>(std::max(1, c.world_size));
  const uint64_t per_rank = (p.train_images + world - 1) / world;
  p.steps_per_epoch = (per_rank + batch - 1) / batch;
  p.total_steps = p.steps_per_epoch * static_cast<uint64_t>(std::max(1, c.epochs));
  if (c.max_steps > 0) p.total_steps = std::min(p.total_steps, c.max_steps);
  return p;
}

absl::StatusOr<data::Dataset> ConvertDataset(const data::Dataset& in,
                                             const model::InputShape& shape) {
  data::Dataset out;
  out.height = shape.height;
  out.width = shape.width;
  out.channels = shape.channels;
  out.labels = in.labels;
  out.class_names = in.class_names;
  out.uris = in.uris;
  const bool same =
      in.height == shape.height && in.width == shape.width && in.channels == shape.channels;
  out.source = same ? in.source : absl::StrCat(in.source, " as ", model::FormatInputShape(shape));
  if (same) {
    out.pixels = in.pixels;
    return out;
  }
  out.pixels.reserve(in.size() * out.image_bytes());
  for (size_t i = 0; i < in.size(); ++i) {
    LS_ASSIGN_OR_RETURN(image::Image img, in.GetImage(i));
    if (img.height != shape.height || img.width != shape.width) {
      LS_ASSIGN_OR_RETURN(img, image::Resize(img, shape.height, shape.width));
    }
    if (img.channels != shape.channels) {
      LS_ASSIGN_OR_RETURN(img, image::ToChannels(img, shape.channels));
    }
    out.pixels.insert(out.pixels.end(), img.pixels.begin(), img.pixels.end());
  }
  return out;
}

}  // namespace latentsearch::trainer

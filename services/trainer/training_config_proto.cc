// ResolveConfig, one function per section of TrainingConfig, called in the
// proto's field order (so the first wrong field is the one reported).
#include "services/trainer/training_config_proto.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"
#include "common/model/checkpoint.h"
#include "common/model/model.h"
#include "services/trainer/training_defaults.h"

namespace latentsearch::trainer {
namespace {

absl::Status Field(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// dataset: the source directory and split.
absl::Status ResolveDataset(const v1::TrainingConfig& in, ResolvedConfig* r) {
  const v1::DatasetSpec& ds = in.dataset();
  switch (ds.source_case()) {
    case v1::DatasetSpec::kCifar10Dir:
      r->dataset.kind = data::DatasetKind::kCifar10;
      r->dataset.path = ds.cifar10_dir();
      break;
    case v1::DatasetSpec::kIdxDir:
      r->dataset.kind = data::DatasetKind::kIdx;
      r->dataset.path = ds.idx_dir();
      break;
    case v1::DatasetSpec::kImageFolder:
      r->dataset.kind = data::DatasetKind::kFolder;
      r->dataset.path = ds.image_folder();
      break;
    case v1::DatasetSpec::SOURCE_NOT_SET:
      return Field("dataset",
                   "no source; set dataset.cifar10_dir, dataset.idx_dir or "
                   "dataset.image_folder");
  }
  if (r->dataset.path.empty()) return Field("dataset", "the directory is empty");
  switch (ds.split()) {
    case v1::SPLIT_UNSPECIFIED:
    case v1::SPLIT_TRAIN:
      r->dataset.split = data::Split::kTrain;
      r->effective.mutable_dataset()->set_split(v1::SPLIT_TRAIN);
      break;
    case v1::SPLIT_TEST:
      r->dataset.split = data::Split::kTest;
      break;
    case v1::SPLIT_ALL:
      r->dataset.split = data::Split::kAll;
      break;
    default:
      return Field("dataset.split", absl::StrCat(ds.split(), " is not a Split value"));
  }
  r->max_images = ds.max_images();
  return absl::OkStatus();
}

// input_shape: optional, except for an image folder (which has no shape).
absl::Status ResolveInputShape(const v1::TrainingConfig& in, ResolvedConfig* r) {
  const v1::InputShape& shape = in.input_shape();
  const uint32_t max_side = static_cast<uint32_t>(kMaxInputSide);
  if (shape.height() > max_side || shape.width() > max_side) {
    return Field("input_shape", absl::StrCat("height and width must be 1..", kMaxInputSide));
  }
  if (shape.channels() != 0 && shape.channels() != 1 && shape.channels() != 3) {
    return Field("input_shape", absl::StrCat(shape.channels(), " channels; allowed 1 or 3"));
  }
  r->explicit_input = shape.height() || shape.width() || shape.channels();
  model::InputShape& input = r->train.model.input;
  input = {static_cast<int>(shape.height()), static_cast<int>(shape.width()),
           static_cast<int>(shape.channels())};
  if (r->dataset.kind == data::DatasetKind::kFolder) {
    r->dataset.split = data::Split::kAll;
    if (shape.height() == 0 || shape.width() == 0) {
      return Field("input_shape", "required (height and width) for an image folder");
    }
    if (input.channels == 0) input.channels = 3;
    r->dataset.folder.height = input.height;
    r->dataset.folder.width = input.width;
    r->dataset.folder.channels = input.channels;
  }
  return absl::OkStatus();
}

// model_name, architecture, latent_size.
absl::Status ResolveModel(const v1::TrainingConfig& in, ResolvedConfig* r) {
  v1::TrainingConfig& e = r->effective;
  model::ModelSpec& spec = r->train.model;
  r->model_name = in.model_name().empty() ? kDefaultModelName : in.model_name();
  if (absl::Status s = model::ValidateModelName(r->model_name); !s.ok()) {
    return Field("model_name", s.message());
  }
  e.set_model_name(r->model_name);
  spec.architecture = in.architecture().empty() ? model::kDefaultArchitecture : in.architecture();
  const std::vector<std::string> names = model::ArchitectureNames();
  if (std::find(names.begin(), names.end(), spec.architecture) == names.end()) {
    return Field("architecture", absl::StrCat("unknown architecture '", spec.architecture,
                                              "'; known: ", absl::StrJoin(names, ", ")));
  }
  e.set_architecture(spec.architecture);
  if (in.latent_size() > static_cast<uint32_t>(model::kMaxLatentSize)) {
    return Field("latent_size",
                 absl::StrCat(in.latent_size(), " is outside 1..", model::kMaxLatentSize));
  }
  spec.latent_size = in.latent_size() == 0
                         ? model::WithDefaults({spec.architecture, 0, {}}).latent_size
                         : static_cast<int>(in.latent_size());
  e.set_latent_size(spec.latent_size);
  return absl::OkStatus();
}

absl::StatusOr<OptimizerKind> ResolveOptimizerKind(const v1::TrainingConfig& in,
                                                   v1::TrainingConfig* e) {
  switch (in.optimizer()) {
    case v1::OPTIMIZER_UNSPECIFIED:
    case v1::OPTIMIZER_ADAMAX:
      e->set_optimizer(v1::OPTIMIZER_ADAMAX);
      return OptimizerKind::kAdamax;
    case v1::OPTIMIZER_ADAM:
      return OptimizerKind::kAdam;
    case v1::OPTIMIZER_ADAMW:
      return OptimizerKind::kAdamW;
    default:
      return Field("optimizer", absl::StrCat(in.optimizer(), " is not an Optimizer value"));
  }
}

// epochs, batch_size, optimizer, learning_rate, weight_decay,
// validation_fraction, seed, augment.
absl::Status ResolveOptimization(const v1::TrainingConfig& in, ResolvedConfig* r) {
  v1::TrainingConfig& e = r->effective;
  TrainConfig& t = r->train;
  if (in.epochs() > static_cast<uint32_t>(kMaxEpochs)) {
    return Field("epochs", absl::StrCat(in.epochs(), " exceeds ", kMaxEpochs));
  }
  t.epochs = in.epochs() == 0 ? kDefaultEpochs : static_cast<int>(in.epochs());
  e.set_epochs(t.epochs);
  if (in.batch_size() > static_cast<uint32_t>(kMaxBatchSize)) {
    return Field("batch_size", absl::StrCat(in.batch_size(), " exceeds ", kMaxBatchSize));
  }
  t.batch_size = in.batch_size() == 0 ? kDefaultBatchSize : static_cast<int>(in.batch_size());
  e.set_batch_size(t.batch_size);
  LS_ASSIGN_OR_RETURN(t.optimizer, ResolveOptimizerKind(in, &e));
  if (!std::isfinite(in.learning_rate()) || in.learning_rate() < 0) {
    return Field("learning_rate", absl::StrCat(in.learning_rate(), " must be finite and > 0 (0 = ",
                                               kDefaultLearningRate, ")"));
  }
  t.learning_rate = in.learning_rate() == 0 ? kDefaultLearningRate : in.learning_rate();
  e.set_learning_rate(t.learning_rate);
  if (!std::isfinite(in.weight_decay()) || in.weight_decay() < 0) {
    return Field("weight_decay", absl::StrCat(in.weight_decay(), " must be finite and >= 0"));
  }
  t.weight_decay = in.weight_decay();
  t.validation_fraction =
      in.has_validation_fraction() ? in.validation_fraction() : kDefaultValidationFraction;
  if (!(t.validation_fraction >= 0 && t.validation_fraction <= kMaxValidationFraction)) {
    return Field("validation_fraction", absl::StrCat(t.validation_fraction, " is outside [0, ",
                                                     kMaxValidationFraction, "]"));
  }
  e.set_validation_fraction(t.validation_fraction);
  t.seed = in.seed();
  t.augment = in.augment();
  return absl::OkStatus();
}

// objective, reconstruction_weight, temperature.
absl::Status ResolveObjective(const v1::TrainingConfig& in, ResolvedConfig* r) {
  v1::TrainingConfig& e = r->effective;
  TrainConfig& t = r->train;
  switch (in.objective()) {
    case v1::OBJECTIVE_UNSPECIFIED:
    case v1::OBJECTIVE_RECONSTRUCTION:
      t.objective = Objective::kReconstruction;
      e.set_objective(v1::OBJECTIVE_RECONSTRUCTION);
      break;
    case v1::OBJECTIVE_DENOISING:
      t.objective = Objective::kDenoising;
      break;
    case v1::OBJECTIVE_CONTRASTIVE:
      t.objective = Objective::kContrastive;
      break;
    default:
      return Field("objective",
                   absl::StrCat(in.objective(),
                                " is not an Objective value; allowed OBJECTIVE_RECONSTRUCTION, "
                                "OBJECTIVE_DENOISING, OBJECTIVE_CONTRASTIVE"));
  }
  if (!std::isfinite(in.reconstruction_weight()) || in.reconstruction_weight() < 0) {
    return Field("reconstruction_weight",
                 absl::StrCat(in.reconstruction_weight(), " must be finite and >= 0"));
  }
  t.reconstruction_weight = in.reconstruction_weight();
  if (!std::isfinite(in.temperature()) || in.temperature() < 0 ||
      in.temperature() > kMaxTemperature) {
    return Field("temperature", absl::StrCat(in.temperature(), " is outside (0, ", kMaxTemperature,
                                             "] (0 = ", kDefaultTemperature, ")"));
  }
  t.temperature = in.temperature() == 0 ? kDefaultTemperature : in.temperature();
  e.set_temperature(t.temperature);
  return absl::OkStatus();
}

// lr_schedule, warmup_fraction.
absl::Status ResolveLrSchedule(const v1::TrainingConfig& in, ResolvedConfig* r) {
  v1::TrainingConfig& e = r->effective;
  TrainConfig& t = r->train;
  switch (in.lr_schedule()) {
    case v1::LR_SCHEDULE_UNSPECIFIED:
    case v1::LR_SCHEDULE_CONSTANT:
      t.lr_schedule = LrSchedule::kConstant;
      e.set_lr_schedule(v1::LR_SCHEDULE_CONSTANT);
      break;
    case v1::LR_SCHEDULE_WARMUP_COSINE:
      t.lr_schedule = LrSchedule::kWarmupCosine;
      break;
    default:
      return Field("lr_schedule", absl::StrCat(in.lr_schedule(),
                                               " is not an LrSchedule value; allowed "
                                               "LR_SCHEDULE_CONSTANT, "
                                               "LR_SCHEDULE_WARMUP_COSINE"));
  }
  t.warmup_fraction = in.has_warmup_fraction() ? in.warmup_fraction() : kDefaultWarmupFraction;
  if (!(t.warmup_fraction >= 0 && t.warmup_fraction <= kMaxWarmupFraction)) {
    return Field("warmup_fraction",
                 absl::StrCat(t.warmup_fraction, " is outside [0, ", kMaxWarmupFraction, "]"));
  }
  e.set_warmup_fraction(t.warmup_fraction);
  return absl::OkStatus();
}

// views: absent fields keep AugmentOptions::SimClr(); ranges are checked
// (for contrastive jobs) by ValidateTrainConfig. Contrastive jobs show the
// views used in the effective config.
void ResolveViews(const v1::TrainingConfig& in, ResolvedConfig* r) {
  const v1::ViewAugmentation& views = in.views();
  AugmentOptions& v = r->train.views;
  if (views.has_min_crop_scale()) v.min_scale = views.min_crop_scale();
  if (views.has_flip_probability()) v.flip_probability = views.flip_probability();
  if (views.has_jitter_probability()) v.jitter_probability = views.jitter_probability();
  if (views.has_jitter_strength()) {
    v.brightness = v.contrast = v.saturation = views.jitter_strength();
  }
  if (views.has_grayscale_probability()) {
    v.grayscale_probability = views.grayscale_probability();
  }
  if (r->train.objective != Objective::kContrastive) return;
  v1::ViewAugmentation* ev = r->effective.mutable_views();
  ev->set_min_crop_scale(v.min_scale);
  ev->set_flip_probability(v.flip_probability);
  ev->set_jitter_probability(v.jitter_probability);
  ev->set_jitter_strength(v.brightness);
  ev->set_grayscale_probability(v.grayscale_probability);
}

// embedding (default: whitened for contrastive jobs, else the latent) and
// the mirror averaging that goes with it; eval_images.
absl::Status ResolveEmbedding(const v1::TrainingConfig& in, ResolvedConfig* r) {
  TrainConfig& t = r->train;
  switch (in.embedding()) {
    case v1::EMBEDDING_KIND_UNSPECIFIED:
      t.embedding =
          t.objective == Objective::kContrastive ? Embedding::kWhitened : Embedding::kLatent;
      break;
    case v1::EMBEDDING_KIND_LATENT:
      t.embedding = Embedding::kLatent;
      break;
    case v1::EMBEDDING_KIND_WHITENED:
      t.embedding = Embedding::kWhitened;
      break;
    default:
      return Field("embedding", absl::StrCat(in.embedding(),
                                             " is not an EmbeddingKind value; allowed "
                                             "EMBEDDING_KIND_LATENT, EMBEDDING_KIND_WHITENED"));
  }
  r->effective.set_embedding(t.embedding == Embedding::kWhitened ? v1::EMBEDDING_KIND_WHITENED
                                                                 : v1::EMBEDDING_KIND_LATENT);
  // A model trained on flipped images also averages each image's latent
  // with its mirror image's.
  t.whitening_mirror =
      t.objective == Objective::kContrastive ? t.views.flip_probability > 0 : t.augment;
  t.eval_images = in.eval_images() == 0 ? kDefaultEvalImages : in.eval_images();
  r->effective.set_eval_images(static_cast<uint32_t>(t.eval_images));
  return absl::OkStatus();
}

// checkpoint_policy, push_to, max_steps, time_budget_seconds, threads.
absl::Status ResolveRun(const v1::TrainingConfig& in, int default_threads, ResolvedConfig* r) {
  TrainConfig& t = r->train;
  switch (in.checkpoint_policy()) {
    case v1::CHECKPOINT_POLICY_UNSPECIFIED:
    case v1::CHECKPOINT_POLICY_BEST_VALIDATION:
      t.checkpoint_policy = CheckpointPolicy::kBestValidation;
      r->effective.set_checkpoint_policy(v1::CHECKPOINT_POLICY_BEST_VALIDATION);
      break;
    case v1::CHECKPOINT_POLICY_EVERY_EPOCH:
      t.checkpoint_policy = CheckpointPolicy::kEveryEpoch;
      break;
    case v1::CHECKPOINT_POLICY_END:
      t.checkpoint_policy = CheckpointPolicy::kEnd;
      break;
    default:
      return Field("checkpoint_policy",
                   absl::StrCat(in.checkpoint_policy(), " is not a CheckpointPolicy value"));
  }
  for (const std::string& target : in.push_to()) {
    if (target.empty()) return Field("push_to", "empty address");
    r->push_to.push_back(target);
  }
  t.max_steps = in.max_steps();
  if (!std::isfinite(in.time_budget_seconds()) || in.time_budget_seconds() < 0) {
    return Field("time_budget_seconds",
                 absl::StrCat(in.time_budget_seconds(), " must be finite and >= 0"));
  }
  t.time_budget_seconds = in.time_budget_seconds();
  if (in.threads() > static_cast<uint32_t>(kMaxThreads)) {
    return Field("threads", absl::StrCat(in.threads(), " exceeds ", kMaxThreads));
  }
  t.threads = in.threads() == 0 ? default_threads : static_cast<int>(in.threads());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ResolvedConfig> ResolveConfig(const v1::TrainingConfig& in, int default_threads) {
  ResolvedConfig r;
  r.effective = in;
  LS_RETURN_IF_ERROR(ResolveDataset(in, &r));
  LS_RETURN_IF_ERROR(ResolveInputShape(in, &r));
  LS_RETURN_IF_ERROR(ResolveModel(in, &r));
  LS_RETURN_IF_ERROR(ResolveOptimization(in, &r));
  LS_RETURN_IF_ERROR(ResolveObjective(in, &r));
  LS_RETURN_IF_ERROR(ResolveLrSchedule(in, &r));
  ResolveViews(in, &r);
  LS_RETURN_IF_ERROR(ResolveEmbedding(in, &r));
  LS_RETURN_IF_ERROR(ResolveRun(in, default_threads, &r));
  return r;
}

}  // namespace latentsearch::trainer

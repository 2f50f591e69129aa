// The training loop: one job, synchronously, on the calling thread, with no
// gRPC and no LibTorch in this header (training.cc holds the torch side).
//
//   TrainConfig config;                       // defaults = the seed's recipe
//   config.model.architecture = "conv";
//   LS_RETURN_IF_ERROR(ValidateTrainConfig(config, dataset));
//   TrainingCallbacks cb;
//   cb.on_epoch = [](const EpochInfo& e) { ... };
//   LS_ASSIGN_OR_RETURN(TrainingResult r, RunTraining(config, dataset, cb));
//
// Data: the images of `dataset` (uint8 HWC, already in the model's input
// shape) scaled to [0, 1]; a seeded permutation holds out
// validation_fraction of them; the rest is reshuffled every epoch from
// (seed, epoch). Optional augmentation: random horizontal flips.
//
// Objectives (Objective): the seed's reconstruction MSE; denoising (the
// model sees Corrupt(x), augment.h, and is scored on reconstructing x); and
// contrastive (NT-Xent, losses.h, over two AugmentView()s of each image,
// computed on a projection head that exists only during training and is
// never saved; optionally + reconstruction_weight × the MSE of
// reconstructing both views). The served embedding is the encoder's output
// (Embedding::kLatent) or that output centred, PCA-whitened and scaled to
// unit length (Embedding::kWhitened: the whitening is fitted after every
// epoch to up to whitening_images training images, no labels, and is part
// of the checkpoint; model.h FitEmbeddingWhitening).
// Every epoch may also measure k-NN precision@10 of the served embeddings
// on a fixed labelled subset of the validation split (common/eval/knn_precision.h); labels
// are used for nothing else.
// Determinism: on CPU, equal configs and data give bit-identical losses and
// weights (same thread count; oneDNN and our loops are deterministic).
// Thread-safety: RunTraining is reentrant, but LibTorch's thread settings are
// per process/thread: run one training at a time per process.
#ifndef LATENTSEARCH_SERVICES_TRAINER_TRAINING_H_
#define LATENTSEARCH_SERVICES_TRAINER_TRAINING_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/data/dataset.h"
#include "common/model/checkpoint.h"
#include "common/model/model.h"
#include "common/model/precision.h"
#include "services/trainer/augment.h"
#include "services/trainer/training_defaults.h"

namespace latentsearch::trainer {

namespace distributed {
class Collective;  // distributed/collective.h (LibTorch)
}  // namespace distributed

enum class OptimizerKind {
  kAdamax,  // Keras' Adamax (the seed's): eps 1e-7 outside the max.
  kAdam,
  kAdamW,  // Decoupled weight decay.
};

enum class CheckpointPolicy {
  kEveryEpoch,      // After every epoch.
  kBestValidation,  // After an epoch with the best validation loss so far
                    // (training loss when there is no validation split).
  kEnd,             // Once at the end (also when stopped, if an epoch ended).
};

// kFloat32; kBFloat16 (autocast for convolutions and matrix products;
// losses, optimiser state and weights stay float32); kAuto: chosen by a
// trial at the start of the run (RunTraining).
using Precision = model::Precision;

enum class Objective {
  kReconstruction,  // MSE(decode(encode(x)), x): the seed's.
  kDenoising,       // MSE(decode(encode(Corrupt(x))), x).
  kContrastive,     // NT-Xent over two augmented views (+ optional MSE).
};
// "reconstruction", "denoising", "contrastive" (checkpoint metadata).
const char* ObjectiveName(Objective objective);

// The served embedding (see the file comment).
enum class Embedding {
  kLatent,    // The encoder's output.
  kWhitened,  // Centred, PCA-whitened (shrinkage), unit length.
};

enum class LrSchedule {
  kConstant,      // learning_rate throughout (the seed's).
  kWarmupCosine,  // Linear warm-up over warmup_fraction of the run, then a
                  // cosine decay to 0. Progress = max(steps / total steps,
                  // time used / time_budget_seconds when a budget is set).
};

struct TrainConfig {
  // Architecture, latent size, input shape (must equal the data's shape).
  // Must be explicit: latent_size 0 is refused here (the gRPC adapter maps
  // the proto's 0 to the architecture default before).
  model::ModelSpec model{model::kDefaultArchitecture, 10, {32, 32, 3}};
  // How seed's transposed convolutions are computed, and whether
  // convolutions run on channels-last tensors (same function either way).
  model::Formulation formulation = model::Formulation::kPhaseSplit;
  bool channels_last = true;
  int epochs = kDefaultEpochs;         // 1..kMaxEpochs.
  int batch_size = kDefaultBatchSize;  // 1..kMaxBatchSize.
  OptimizerKind optimizer = OptimizerKind::kAdamax;
  double learning_rate = kDefaultLearningRate;  // Finite, > 0.
  double weight_decay = 0;  // >= 0; L2 penalty (Adamax/Adam), decoupled (AdamW).
  double validation_fraction = kDefaultValidationFraction;  // [0, 0.5].
  uint64_t seed = 0;  // Split, shuffles, initialisation, augmentation.
  bool augment = false;
  CheckpointPolicy checkpoint_policy = CheckpointPolicy::kBestValidation;
  uint64_t max_steps = 0;          // 0 = no limit.
  double time_budget_seconds = 0;  // 0 = no limit; the epoch is cut short.
  int threads = 0;                 // Intra-op threads; 0 = the cores.
  int blas_threads = 0;            // OpenBLAS threads; 0 = 1 (see model::SetThreads).
  // kAuto: before the first step, time precision_trial_steps steps (after
  // one untimed warm-up step) in fp32 and then in bf16, each from the
  // run's initial weights on the first batches of epoch 1, restoring the
  // weights after each: the trial steps are not training, and the time
  // budget starts after them. bf16 is kept when it was at least
  // model::kMinBf16Speedup times faster and its loss stayed within
  // model::kTrainLossTolerance of fp32's at every trial step (warm-up
  // included). With data parallelism every rank runs the trial and all
  // follow rank 0's choice. The library's default is the exact kFloat32;
  // the trainer service's is kAuto (TrainerOptions).
  Precision precision = Precision::kFloat32;
  int precision_trial_steps = 3;  // >= 1.
  bool use_cuda_if_available = true;
  // Images per validation forward pass (no gradients).
  int eval_batch_size = 256;

  Objective objective = Objective::kReconstruction;
  // kContrastive: weight (>= 0) of an added reconstruction MSE of both
  // views. 0 = none: the decoder is not trained and checkpoints carry only
  // the encoder (Model::SerializeEncoderWeights; Reconstruct unavailable).
  double reconstruction_weight = 0;
  // kContrastive: NT-Xent temperature, (0, 10].
  double temperature = kDefaultTemperature;
  // kContrastive: the projection head Linear(latent → hidden), BatchNorm,
  // ReLU, Linear(hidden → dim); training only.
  int projection_hidden = 512;
  int projection_dim = 128;
  AugmentOptions views = AugmentOptions::SimClr();  // kContrastive.
  CorruptOptions corruption;                        // kDenoising.
  LrSchedule lr_schedule = LrSchedule::kConstant;
  double warmup_fraction = kDefaultWarmupFraction;  // [0, 0.5].
  Embedding embedding = Embedding::kLatent;
  // kWhitened: eigenvalues are shrunk by this × their mean (> 0, finite);
  // and the training images the whitening is fitted to (>= 2; at most the
  // training split, taken in its seeded order).
  double whitening_shrinkage = 0.1;
  size_t whitening_images = 10000;
  // kWhitened: average each image's latent with its mirror image's first
  // (model.h FitEmbeddingWhitening; for models trained with flips).
  bool whitening_mirror = false;
  // Labelled validation images for the per-epoch k-NN precision@10
  // (at most the validation split); 0 = not measured. Skipped when any of
  // them is unlabelled.
  size_t eval_images = 0;
  // Recorded in checkpoints.
  std::string dataset_name;

  // Data parallelism (TrainingCallbacks.collective): this process's rank
  // and the number of ranks. batch_size is per rank; each epoch's seeded
  // order is padded to a multiple of world_size and rank r takes every
  // world_size-th image from r (DistributedSampler). 1 rank = no
  // collective.
  int rank = 0;
  int world_size = 1;
  // After every step, compare a hash of every rank's weights and fail the
  // run when they differ (tests; one small all-gather per step).
  bool verify_replicas = false;
  // Besides one at every epoch end, a snapshot (TrainingCallbacks.on_snapshot)
  // every this many steps; 0 = only at epoch ends.
  uint64_t snapshot_every_steps = 0;
};

// INVALID_ARGUMENT naming the field ("architecture", "latent_size",
// "input_shape", "batch_size", "epochs", "learning_rate", "weight_decay",
// "validation_fraction", "threads", "time_budget_seconds", "dataset",
// "temperature", "reconstruction_weight", "warmup_fraction", "embedding") when
// `config` cannot train on `dataset`: e.g. latent 0, batch 0, an empty data
// set or one whose image shape differs from the model's input shape, an
// input shape the architecture cannot take, or a validation split that
// leaves no training images.
// INVALID_ARGUMENT naming the field ("views.min_crop_scale",
// "views.flip_probability", "views.jitter_probability",
// "views.jitter_strength", "views.grayscale_probability", "views.ratio")
// when contrastive views cannot be drawn with `views`.
absl::Status ValidateViews(const AugmentOptions& views);

absl::Status ValidateTrainConfig(const TrainConfig& config, const data::Dataset& dataset);

// How a config divides a data set of n images.
struct TrainingPlan {
  uint64_t train_images = 0;
  uint64_t validation_images = 0;
  uint64_t steps_per_epoch = 0;
  uint64_t total_steps = 0;  // epochs × steps_per_epoch, capped by max_steps.
};
TrainingPlan PlanTraining(const TrainConfig& config, uint64_t num_images);

struct StepInfo {
  uint32_t epoch = 0;  // 1-based.
  uint64_t step = 0;   // 1-based, over the whole run.
  uint64_t total_steps = 0;
  double loss = 0;               // Mean over this step's batch.
  double images_per_second = 0;  // Over the last ~20 steps.
  double eta_seconds = 0;
  bool last_of_epoch = false;
  // Data parallelism: the ranks, each rank's images/s (images_per_second
  // is then the group's), and the step's gradient all-reduce (wall seconds
  // from the end of backward until the averaged gradients were in place,
  // and bytes this rank contributed).
  int world_size = 1;
  std::vector<double> rank_images_per_second;
  double allreduce_seconds = 0;
  uint64_t allreduce_bytes = 0;
  // With TrainConfig.verify_replicas: the hash of this rank's weights after
  // the step (0 otherwise).
  uint64_t weights_hash = 0;
};

struct EpochInfo {
  uint32_t epoch = 0;     // 1-based.
  double train_loss = 0;  // Mean over the epoch's training images.
  double validation_loss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;      // Including validation.
  bool cut_short = false;  // Ended by max_steps or the time budget.
  // Process CPU time over the epoch (all threads), seconds.
  double cpu_seconds = 0;
  // k-NN precision@10 on the eval subset (L2 and cosine); NaN when not
  // measured (TrainConfig.eval_images).
  double precision_at_10 = std::numeric_limits<double>::quiet_NaN();
  double precision_at_10_cosine = std::numeric_limits<double>::quiet_NaN();
  // The same subset's raw pixels (L2), measured once per run.
  double pixel_precision_at_10 = std::numeric_limits<double>::quiet_NaN();
  // The learning rate of the epoch's last step.
  double learning_rate = 0;
};

struct TrainingCallbacks {
  // Every step (callers throttle what they publish).
  std::function<void(const StepInfo&)> on_step;
  std::function<void(const EpochInfo&)> on_epoch;
  // A checkpoint the policy keeps, metadata filled except model name,
  // version and job id. An error fails the run.
  std::function<absl::Status(model::Checkpoint)> on_checkpoint;
  // Polled before every step; true stops the run there.
  std::function<bool()> should_stop;
  // The clock for the time budget and rates; default absl::Now. (A
  // benchmark on a shared machine may pass process CPU time / threads.)
  std::function<absl::Time()> now;
  // A snapshot of the whole training state (weights, optimiser state, step,
  // position in the epoch's order, losses so far), to pass to RunTraining as
  // `resume`: at every epoch end and every TrainConfig.snapshot_every_steps.
  // Opaque bytes (a LibTorch archive). An error fails the run. With data
  // parallelism only rank 0 takes snapshots (the ranks' states are equal).
  std::function<absl::Status(uint64_t step, std::string snapshot)> on_snapshot;
  // The precision the run trains in and how it was chosen (TrainConfig.
  // precision), once, before the first step.
  std::function<void(const model::PrecisionChoice&)> on_precision;
  // Times kAuto's trial steps; default model::WallTimer(). Tests inject
  // fakes to make either precision the faster.
  model::PrecisionTimer precision_timer;
  // Tests: replaces each trial step's loss as measured (step 0 = the
  // warm-up), e.g. to show that the guard refuses a bf16 that changes the
  // loss too much; nullptr = none.
  std::function<double(Precision precision, int step, double loss)> perturb_trial_loss;
  // Data parallelism over config.world_size ranks (not owned; must outlive
  // the run); nullptr for one process. Collective errors (a rank died or
  // hung) fail the run with the collective's message.
  distributed::Collective* collective = nullptr;
};

struct TrainingResult {
  bool stopped = false;  // By should_stop.
  uint32_t epochs_completed = 0;
  uint64_t steps = 0;
  double last_train_loss = std::numeric_limits<double>::quiet_NaN();
  double best_validation_loss = std::numeric_limits<double>::quiet_NaN();
  uint64_t checkpoints = 0;
  std::string device;                // "cpu" or "cuda:0".
  model::PrecisionChoice precision;  // What the run trained in, and why.
};

// Trains a new model, or continues from `resume` (bytes from on_snapshot of
// a run with the same config and data; with data parallelism rank 0's, the
// other ranks pass "" and receive it from rank 0). The random streams are
// functions of (seed, epoch, position), so a resumed run continues exactly
// where the snapshot was taken, on any number of ranks. Errors:
// INVALID_ARGUMENT as ValidateTrainConfig; DATA_LOSS for a snapshot that
// does not load; INTERNAL for LibTorch failures (caught here);
// on_checkpoint's, on_snapshot's and the collective's errors.
absl::StatusOr<TrainingResult> RunTraining(const TrainConfig& config, const data::Dataset& dataset,
                                           const TrainingCallbacks& callbacks,
                                           const std::string& resume = "");

// Converts every image of `dataset` to `shape` (resize, grey <-> RGB).
// Returns a copy even when nothing changes.
absl::StatusOr<data::Dataset> ConvertDataset(const data::Dataset& dataset,
                                             const model::InputShape& shape);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_TRAINING_H_

// The trainer's documented defaults and limits, each in one place: the
// values a TrainingConfig field of 0 (or absent) stands for, and the ranges
// the trainer accepts. Used by TrainConfig (training.h), the proto
// resolution (training_config_proto.cc) and validation
// (training_config.cc). Plain constants, no dependencies (no LibTorch, no
// protobuf), so clients may include it too.
//
// Thread-safety: constants only.
#ifndef LATENTSEARCH_SERVICES_TRAINER_TRAINING_DEFAULTS_H_
#define LATENTSEARCH_SERVICES_TRAINER_TRAINING_DEFAULTS_H_

#include <cstddef>
#include <cstdint>

namespace latentsearch::trainer {

// The model name when a config or a ModelRef leaves it empty.
inline constexpr char kDefaultModelName[] = "default";

inline constexpr int kDefaultEpochs = 30;
inline constexpr int kMaxEpochs = 10000;
inline constexpr int kDefaultBatchSize = 32;
inline constexpr int kMaxBatchSize = 4096;
inline constexpr double kDefaultLearningRate = 1e-3;
inline constexpr double kDefaultValidationFraction = 0.1;
inline constexpr double kMaxValidationFraction = 0.5;
// NT-Xent temperature: default and upper bound (exclusive lower bound 0).
inline constexpr double kDefaultTemperature = 0.2;
inline constexpr double kMaxTemperature = 10;
// LrSchedule::kWarmupCosine's warm-up share of the run: default and bound.
inline constexpr double kDefaultWarmupFraction = 0.05;
inline constexpr double kMaxWarmupFraction = 0.5;
// Labelled held-out images for the per-epoch precision@10 when a
// TrainingConfig asks for 0 (TrainConfig's own 0 means "not measured").
inline constexpr uint32_t kDefaultEvalImages = 2000;
// Intra-op (and BLAS) threads a job may ask for.
inline constexpr int kMaxThreads = 1024;
// Input images: largest height and width.
inline constexpr int kMaxInputSide = 4096;

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_TRAINING_DEFAULTS_H_

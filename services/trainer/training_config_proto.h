// v1::TrainingConfig (the proto a client sends; 0 or absent = the documented
// default, training_defaults.h) → TrainConfig (training.h) plus the data set
// to read, the model name and extra push targets. No LibTorch, no gRPC.
//
// Thread-safety: ResolveConfig is a pure function (thread-safe).
#ifndef LATENTSEARCH_SERVICES_TRAINER_TRAINING_CONFIG_PROTO_H_
#define LATENTSEARCH_SERVICES_TRAINER_TRAINING_CONFIG_PROTO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/load.h"
#include "latentsearch/v1/trainer.pb.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer {

struct ResolvedConfig {
  TrainConfig train;
  data::DatasetSpec dataset;
  uint64_t max_images = 0;  // 0 = every image of the data set.
  std::string model_name;
  std::vector<std::string> push_to;
  // The request with every default filled in (Job.config).
  v1::TrainingConfig effective;
  // True when input_shape was given (else the data set's shape is used).
  bool explicit_input = false;
};

// Maps `config` to a ResolvedConfig; a config's threads of 0 becomes
// `default_threads`. INVALID_ARGUMENT naming the field (the first wrong one
// in the proto's order) and what is allowed. The input shape may stay
// partly 0 (= the data set's); ValidateTrainConfig runs once the data set
// is read.
absl::StatusOr<ResolvedConfig> ResolveConfig(const v1::TrainingConfig& config, int default_threads);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_TRAINING_CONFIG_PROTO_H_

// The training loop's optimisers behind one small interface: Keras' Adamax
// (the seed's recipe, eps outside the max, with a fused CPU step) and
// LibTorch's Adam and AdamW. A LibTorch header: include it only from the
// trainer's LibTorch translation units (training.cc, its tests).
//
// Thread-safety: an Optimizer is used by one thread at a time.
#ifndef LATENTSEARCH_SERVICES_TRAINER_OPTIMIZERS_H_
#define LATENTSEARCH_SERVICES_TRAINER_OPTIMIZERS_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Zeroes the parameters' gradients.
  virtual void ZeroGrad() = 0;
  // One update from the gradients of the last backward pass.
  virtual void Step() = 0;
  // Takes effect at the next Step.
  virtual void SetLearningRate(double lr) = 0;
  // The optimiser's state (moments, step count) into / out of an archive,
  // for training snapshots. Load expects Save's output for the same
  // parameters; INTERNAL naming the problem otherwise (never throws).
  virtual void Save(torch::serialize::OutputArchive& archive) = 0;
  virtual absl::Status Load(torch::serialize::InputArchive& archive) = 0;
};

// `kind` over `params` (the tensors are shared, not copied) with learning
// rate `lr` and weight decay `weight_decay` (an L2 term for Adamax and
// Adam, decoupled for AdamW).
std::unique_ptr<Optimizer> MakeOptimizer(OptimizerKind kind, std::vector<torch::Tensor> params,
                                         double lr, double weight_decay);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_OPTIMIZERS_H_

// bf16 autocast as a scope: convolutions and matrix products inside it run
// in bf16 (oneDNN, AMX where the CPU has it; CUDA's bf16 on a GPU), weights
// and everything else stay float32. Used by the trainer's forward passes
// and the encoder's runner when their precision is bf16. LibTorch side:
// include only from .cc files that include torch.
//
// Note: ConvTranspose2d is not on autocast's list (it stays float32); the
// seed model's phase formulations (same_conv_transpose.h) compute it as
// Conv2d, which is, so the seed path runs in bf16 too.
//
// Thread-safety: autocast state is per thread: a scope affects only the
// thread that made it; scopes nest.
#ifndef LATENTSEARCH_COMMON_MODEL_AUTOCAST_H_
#define LATENTSEARCH_COMMON_MODEL_AUTOCAST_H_

namespace latentsearch::model {

class AutocastScope {
 public:
  // enable false: does nothing. cuda: the GPU's autocast, else the CPU's.
  // Clears autocast's cast-weight cache when the outermost scope ends (an
  // optimiser changes the weights between scopes).
  AutocastScope(bool enable, bool cuda);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  const bool enable_, cuda_;
  bool prev_ = false;
};

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_AUTOCAST_H_

// Training losses on tensors: the LibTorch side of the objectives in
// training.h. Include only from torch translation units (training.cc,
// tests): <torch/torch.h> costs ~20 s of compile time.
//
// Functions throw LibTorch exceptions (c10::Error); RunTraining catches them.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_TRAINER_LOSSES_H_
#define LATENTSEARCH_SERVICES_TRAINER_LOSSES_H_

#include <torch/torch.h>

namespace latentsearch::trainer {

// NT-Xent (SimCLR's normalised-temperature cross entropy) over N pairs.
//   z1, z2: N × D, row i of z1 and row i of z2 are two views of one image.
// The 2N rows are L2-normalised; each row's positive is its partner, the
// other 2N − 2 rows are its negatives:
//   loss = mean over the 2N rows r of
//          −log( exp(s(r, partner)/τ) / Σ_{q ≠ r} exp(s(r, q)/τ) ),
// s = cosine similarity, τ = temperature (> 0). Computed in float32.
torch::Tensor NtXentLoss(const torch::Tensor& z1, const torch::Tensor& z2, double temperature);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_LOSSES_H_

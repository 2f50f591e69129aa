#include "services/trainer/losses.h"

namespace latentsearch::trainer {

torch::Tensor NtXentLoss(const torch::Tensor& z1, const torch::Tensor& z2, double temperature) {
  const int64_t n = z1.size(0);
  torch::Tensor z = torch::cat({z1, z2}, 0).to(torch::kFloat);
  z = torch::nn::functional::normalize(
      z, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1).eps(1e-8));
  torch::Tensor logits = torch::mm(z, z.t()) / temperature;
  // A row is never its own negative: −inf on the diagonal.
  logits = logits.masked_fill(
      torch::eye(2 * n, torch::TensorOptions().dtype(torch::kBool).device(z.device())),
      -std::numeric_limits<float>::infinity());
  torch::Tensor targets = torch::cat({torch::arange(n, 2 * n), torch::arange(0, n)}).to(z.device());
  return torch::nn::functional::cross_entropy(logits, targets);
}

}  // namespace latentsearch::trainer

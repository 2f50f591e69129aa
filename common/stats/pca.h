// Principal component analysis of a few thousand vectors: the covariance
// matrix, then all its eigenvectors by Eigen's SelfAdjointEigenSolver
// (dim <= kFullSolverMaxDim), or only the leading ones by orthogonal
// (subspace) iteration on Eigen matrices for larger dims (raw pixels).
// Used by `latentsearch report` for the 2-D map of the latent space, and
// meant for the HTTP gateway's too. No LibTorch.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_STATS_PCA_H_
#define LATENTSEARCH_COMMON_STATS_PCA_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace latentsearch::stats {

// Above this dimension (and for few components) the subspace iteration is
// used instead of the full solver.
inline constexpr size_t kFullSolverMaxDim = 512;

// A fitted projection. A value type.
struct Pca {
  size_t dim = 0;
  // dim floats: the mean that is subtracted before projecting.
  std::vector<double> mean;
  // components × dim, row-major: unit eigenvectors of the covariance,
  // largest eigenvalue first. Each is signed so that its largest-magnitude
  // entry is positive (deterministic output).
  std::vector<double> components;
  // The eigenvalues (variances along each component), largest first.
  std::vector<double> variances;
  // Sum of all variances (the covariance's trace): variances[i] /
  // total_variance is the share component i explains.
  double total_variance = 0;

  size_t num_components() const { return variances.size(); }
};

// Fits `components` principal components of `x`, n × dim floats row-major.
// INVALID_ARGUMENT for n < 2, dim = 0, a wrong x size, components outside
// [1, dim], or non-finite values.
absl::StatusOr<Pca> FitPca(absl::Span<const float> x, size_t n, size_t dim, size_t components);

// Projects `x` (n × dim) onto the fitted components: n × num_components()
// doubles, row-major. INVALID_ARGUMENT for a wrong size.
absl::StatusOr<std::vector<double>> Project(const Pca& pca, absl::Span<const float> x, size_t n);

// Eigen-decomposition of the symmetric `a` (d × d, row-major): eigenvalues
// (descending) in `values`, unit eigenvectors as the rows of `vectors`
// (d × d) in the same order. FitPca solves on its Eigen matrix directly;
// this row-major vector form is kept for tests.
void SymmetricEigen(const std::vector<double>& a, size_t d, std::vector<double>* values,
                    std::vector<double>* vectors);

}  // namespace latentsearch::stats

#endif  // LATENTSEARCH_COMMON_STATS_PCA_H_

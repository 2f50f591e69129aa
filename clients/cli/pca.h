// Principal component analysis of a few thousand short vectors, in plain
// C++ (no LibTorch, no LAPACK): the covariance matrix, then all of its
// eigenvectors by the cyclic Jacobi method (dim ≤ kMaxJacobiDim), or the
// leading ones by orthogonal (subspace) iteration for larger dims. Used by
// `latentsearch report` for the 2-D map of the latent space.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_CLIENTS_CLI_PCA_H_
#define LATENTSEARCH_CLIENTS_CLI_PCA_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace latentsearch::cli {

// Above this dimension the subspace iteration is used instead of Jacobi.
inline constexpr size_t kMaxJacobiDim = 256;

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

// Eigen-decomposition of the symmetric `a` (d × d, row-major) by cyclic
// Jacobi rotations: eigenvalues (descending) in `values`, unit eigenvectors
// as the rows of `vectors` (d × d) in the same order. Exposed for tests.
void SymmetricEigen(std::vector<double> a, size_t d, std::vector<double>* values,
                    std::vector<double>* vectors);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_PCA_H_

#include "common/stats/pca.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "Eigen/Dense"
#include "absl/strings/str_cat.h"

namespace latentsearch::stats {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Sign convention: the largest-magnitude entry of each row is positive.
void FixSigns(std::vector<double>* rows, size_t count, size_t d) {
  for (size_t r = 0; r < count; ++r) {
    double* v = rows->data() + r * d;
    size_t arg = 0;
    for (size_t j = 1; j < d; ++j) {
      if (std::fabs(v[j]) > std::fabs(v[arg])) arg = j;
    }
    if (v[arg] < 0) {
      for (size_t j = 0; j < d; ++j) v[j] = -v[j];
    }
  }
}

absl::Status CheckInput(absl::Span<const float> x, size_t n, size_t dim, size_t components) {
  if (n < 2 || dim == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("PCA of ", n, " vectors of dim ", dim, ": need n >= 2 and dim >= 1"));
  }
  if (x.size() != n * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("PCA input has ", x.size(), " floats; expected n x dim = ", n * dim));
  }
  if (components < 1 || components > dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("PCA components = ", components, "; expected 1..", dim));
  }
  for (float v : x) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("PCA input holds NaN or Inf");
  }
  return absl::OkStatus();
}

// The top `k` eigenpairs of the symmetric positive semi-definite `c` by
// orthogonal iteration with a Rayleigh-Ritz step, seeded deterministically:
// O(k d^2) per iteration where the full solver costs O(d^3) (a 3,072-pixel
// CIFAR image: seconds instead of minutes). Values descending in `values`,
// vectors as rows of `vectors` (k x d).
void LeadingEigenpairs(const Eigen::MatrixXd& c, size_t k, std::vector<double>* values,
                       std::vector<double>* vectors) {
  const Eigen::Index d = c.rows(), kk = static_cast<Eigen::Index>(k);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd q(d, kk);
  for (Eigen::Index j = 0; j < kk; ++j) {
    for (Eigen::Index i = 0; i < d; ++i) q(i, j) = normal(rng);
  }
  auto orthonormal = [&](const Eigen::MatrixXd& m) -> Eigen::MatrixXd {
    return Eigen::HouseholderQR<Eigen::MatrixXd>(m).householderQ() *
           Eigen::MatrixXd::Identity(d, kk);
  };
  q = orthonormal(q);
  for (int iter = 0; iter < 300; ++iter) {
    const Eigen::MatrixXd z = orthonormal(c * q);
    const double change =
        1 - (z.transpose() * q).diagonal().cwiseAbs().minCoeff();  // max over columns
    q = z;
    if (change < 1e-12) break;
  }
  const Eigen::MatrixXd h = q.transpose() * c * q;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(h);
  const Eigen::MatrixXd v = q * solver.eigenvectors();  // ascending columns
  values->resize(k);
  vectors->resize(k * static_cast<size_t>(d));
  for (size_t r = 0; r < k; ++r) {
    const Eigen::Index col = kk - 1 - static_cast<Eigen::Index>(r);
    (*values)[r] = solver.eigenvalues()(col);
    for (Eigen::Index t = 0; t < d; ++t) (*vectors)[r * d + t] = v(t, col);
  }
}

// All eigenpairs of the symmetric `a` (d x d) by Eigen's full solver:
// values descending, vectors as rows (d x d) in the same order.
void AllEigenpairs(const Eigen::MatrixXd& a, std::vector<double>* values,
                   std::vector<double>* vectors) {
  const size_t d = static_cast<size_t>(a.rows());
  // Eigen returns ascending eigenvalues with eigenvectors as columns.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(a);
  values->resize(d);
  vectors->resize(d * d);
  for (size_t r = 0; r < d; ++r) {
    const Eigen::Index c = static_cast<Eigen::Index>(d - 1 - r);
    (*values)[r] = solver.eigenvalues()(c);
    for (size_t k = 0; k < d; ++k) {
      (*vectors)[r * d + k] = solver.eigenvectors()(static_cast<Eigen::Index>(k), c);
    }
  }
}

}  // namespace

void SymmetricEigen(const std::vector<double>& a, size_t d, std::vector<double>* values,
                    std::vector<double>* vectors) {
  const Eigen::Map<const RowMatrix> m(a.data(), static_cast<Eigen::Index>(d),
                                      static_cast<Eigen::Index>(d));
  AllEigenpairs(m, values, vectors);
}

absl::StatusOr<Pca> FitPca(absl::Span<const float> x, size_t n, size_t dim, size_t components) {
  if (absl::Status s = CheckInput(x, n, dim, components); !s.ok()) return s;
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> xf(
      x.data(), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(dim));
  const Eigen::MatrixXd xd = xf.cast<double>();
  const Eigen::RowVectorXd mean = xd.colwise().mean();
  const Eigen::MatrixXd centred = xd.rowwise() - mean;
  const Eigen::MatrixXd cov = centred.transpose() * centred / static_cast<double>(n - 1);
  Pca pca;
  pca.dim = dim;
  pca.mean.assign(mean.data(), mean.data() + dim);
  pca.total_variance = cov.trace();
  std::vector<double> values, vectors;
  if (dim > kFullSolverMaxDim && components <= dim / 8) {
    LeadingEigenpairs(cov, components, &values, &vectors);
  } else {
    AllEigenpairs(cov, &values, &vectors);
  }
  pca.variances.assign(values.begin(), values.begin() + components);
  for (double& v : pca.variances) v = std::max(v, 0.0);  // rounding below 0
  pca.components.assign(vectors.begin(), vectors.begin() + components * dim);
  FixSigns(&pca.components, components, dim);
  return pca;
}

absl::StatusOr<std::vector<double>> Project(const Pca& pca, absl::Span<const float> x, size_t n) {
  if (x.size() != n * pca.dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("projection input has ", x.size(), " floats; expected ", n, " x ", pca.dim));
  }
  const size_t k = pca.num_components();
  std::vector<double> out(n * k, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t c = 0; c < k; ++c) {
      double s = 0;
      for (size_t j = 0; j < pca.dim; ++j) {
        s += (x[i * pca.dim + j] - pca.mean[j]) * pca.components[c * pca.dim + j];
      }
      out[i * k + c] = s;
    }
  }
  return out;
}

}  // namespace latentsearch::stats

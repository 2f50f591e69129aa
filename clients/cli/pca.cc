#include "clients/cli/pca.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace latentsearch::cli {
namespace {

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

// Top `k` eigenpairs of the symmetric positive semi-definite `c` (d × d) by
// orthogonal iteration with a Rayleigh–Ritz step (Jacobi on the k × k
// projection), seeded deterministically.
void SubspaceIteration(const std::vector<double>& c, size_t d, size_t k,
                       std::vector<double>* values, std::vector<double>* vectors) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::vector<double> q(k * d);
  for (double& v : q) v = normal(rng);
  std::vector<double> z(k * d);
  auto orthonormalise = [&](std::vector<double>* m) {  // Gram–Schmidt, rows.
    for (size_t i = 0; i < k; ++i) {
      double* vi = m->data() + i * d;
      for (size_t j = 0; j < i; ++j) {
        const double* vj = m->data() + j * d;
        const double dot = std::inner_product(vi, vi + d, vj, 0.0);
        for (size_t t = 0; t < d; ++t) vi[t] -= dot * vj[t];
      }
      const double norm = std::sqrt(std::inner_product(vi, vi + d, vi, 0.0));
      for (size_t t = 0; t < d; ++t) vi[t] = norm > 0 ? vi[t] / norm : 0;
    }
  };
  orthonormalise(&q);
  for (int iter = 0; iter < 300; ++iter) {
    for (size_t i = 0; i < k; ++i) {  // z_i = C q_i
      for (size_t r = 0; r < d; ++r) {
        z[i * d + r] =
            std::inner_product(c.begin() + r * d, c.begin() + (r + 1) * d, q.begin() + i * d, 0.0);
      }
    }
    orthonormalise(&z);
    double change = 0;
    for (size_t i = 0; i < k; ++i) {
      const double dot = std::fabs(
          std::inner_product(z.begin() + i * d, z.begin() + (i + 1) * d, q.begin() + i * d, 0.0));
      change = std::max(change, 1 - dot);
    }
    q.swap(z);
    if (change < 1e-12) break;
  }
  // Rayleigh–Ritz: H = Q C Qᵀ (k × k), rotate Q by H's eigenvectors.
  std::vector<double> cq(k * d);
  for (size_t i = 0; i < k; ++i) {
    for (size_t r = 0; r < d; ++r) {
      cq[i * d + r] =
          std::inner_product(c.begin() + r * d, c.begin() + (r + 1) * d, q.begin() + i * d, 0.0);
    }
  }
  std::vector<double> h(k * k);
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j) {
      h[i * k + j] =
          std::inner_product(q.begin() + i * d, q.begin() + (i + 1) * d, cq.begin() + j * d, 0.0);
    }
  }
  std::vector<double> hv, hvec;
  SymmetricEigen(h, k, &hv, &hvec);
  values->assign(hv.begin(), hv.end());
  vectors->assign(k * d, 0.0);
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j) {
      for (size_t t = 0; t < d; ++t) (*vectors)[i * d + t] += hvec[i * k + j] * q[j * d + t];
    }
  }
}

}  // namespace

void SymmetricEigen(std::vector<double> a, size_t d, std::vector<double>* values,
                    std::vector<double>* vectors) {
  // v starts as the identity; columns of v become the eigenvectors.
  std::vector<double> v(d * d, 0.0);
  for (size_t i = 0; i < d; ++i) v[i * d + i] = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (size_t p = 0; p < d; ++p) {
      for (size_t q = p + 1; q < d; ++q) off += a[p * d + q] * a[p * d + q];
    }
    if (off < 1e-30) break;
    for (size_t p = 0; p < d; ++p) {
      for (size_t q = p + 1; q < d; ++q) {
        const double apq = a[p * d + q];
        if (std::fabs(apq) < 1e-300) continue;
        // The rotation that zeroes a[p][q] (Numerical Recipes' form).
        const double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1);
        const double s = t * c;
        for (size_t k = 0; k < d; ++k) {  // columns p, q of A
          const double akp = a[k * d + p], akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < d; ++k) {  // rows p, q of A
          const double apk = a[p * d + k], aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (size_t k = 0; k < d; ++k) {
          const double vkp = v[k * d + p], vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<size_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return a[x * d + x] > a[y * d + y]; });
  values->resize(d);
  vectors->resize(d * d);
  for (size_t r = 0; r < d; ++r) {
    (*values)[r] = a[order[r] * d + order[r]];
    for (size_t k = 0; k < d; ++k) (*vectors)[r * d + k] = v[k * d + order[r]];
  }
}

absl::StatusOr<Pca> FitPca(absl::Span<const float> x, size_t n, size_t dim, size_t components) {
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
  Pca pca;
  pca.dim = dim;
  pca.mean.assign(dim, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < dim; ++j) pca.mean[j] += x[i * dim + j];
  }
  for (double& m : pca.mean) m /= static_cast<double>(n);
  std::vector<double> cov(dim * dim, 0.0);
  std::vector<double> row(dim);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < dim; ++j) row[j] = x[i * dim + j] - pca.mean[j];
    for (size_t a = 0; a < dim; ++a) {
      const double ra = row[a];
      double* c = cov.data() + a * dim;
      for (size_t b = a; b < dim; ++b) c[b] += ra * row[b];
    }
  }
  for (size_t a = 0; a < dim; ++a) {
    for (size_t b = a; b < dim; ++b) {
      cov[a * dim + b] /= static_cast<double>(n - 1);
      cov[b * dim + a] = cov[a * dim + b];
    }
    pca.total_variance += cov[a * dim + a];
  }
  std::vector<double> values, vectors;
  if (dim <= kMaxJacobiDim) {
    SymmetricEigen(cov, dim, &values, &vectors);
  } else {
    SubspaceIteration(cov, dim, components, &values, &vectors);
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

}  // namespace latentsearch::cli

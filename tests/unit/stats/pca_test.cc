// PCA for the report's latent map: eigenvectors against known matrices and
// the residual A v = λ v of random ones (small and large), and the
// projection of data with a known principal direction (and its refusal of
// input of the wrong size).
#include "common/stats/pca.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::stats {
namespace {

TEST(SymmetricEigenTest, DiagonalAndTwoByTwo) {
  std::vector<double> values, vectors;
  SymmetricEigen({1, 0, 0, 0, 3, 0, 0, 0, 2}, 3, &values, &vectors);
  EXPECT_THAT(values, ::testing::ElementsAre(3, 2, 1));
  EXPECT_NEAR(std::fabs(vectors[0 * 3 + 1]), 1, 1e-12);  // e2 first
  // [[2, 1], [1, 2]]: eigenvalues 3 (1, 1)/√2 and 1 (1, −1)/√2.
  SymmetricEigen({2, 1, 1, 2}, 2, &values, &vectors);
  EXPECT_NEAR(values[0], 3, 1e-12);
  EXPECT_NEAR(values[1], 1, 1e-12);
  EXPECT_NEAR(std::fabs(vectors[0]), std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(vectors[0] * vectors[1], 0.5, 1e-12);
}

void ExpectEigenPairs(size_t d) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  std::vector<double> a(d * d);
  for (size_t i = 0; i < d; ++i) {
    for (size_t j = i; j < d; ++j) a[i * d + j] = a[j * d + i] = normal(rng);
  }
  std::vector<double> values, vectors;
  SymmetricEigen(a, d, &values, &vectors);
  for (size_t r = 0; r < d; ++r) {
    if (r > 0) {
      EXPECT_GE(values[r - 1], values[r]);
    }
    double norm = 0;
    for (size_t i = 0; i < d; ++i) {
      double av = 0;
      for (size_t j = 0; j < d; ++j) av += a[i * d + j] * vectors[r * d + j];
      EXPECT_NEAR(av, values[r] * vectors[r * d + i], 1e-9);  // A v = λ v
      norm += vectors[r * d + i] * vectors[r * d + i];
    }
    EXPECT_NEAR(norm, 1, 1e-12);
  }
}

TEST(SymmetricEigenTest, RandomMatrixResidual) {
  ExpectEigenPairs(12);
  ExpectEigenPairs(300);  // the report maps latents of up to a few hundred dims
}

// n points spread along `direction` (std 5) plus small isotropic noise.
std::vector<float> Elongated(size_t n, size_t dim, const std::vector<double>& direction) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  std::vector<float> x(n * dim);
  for (size_t i = 0; i < n; ++i) {
    const double t = 5 * normal(rng);
    for (size_t j = 0; j < dim; ++j) {
      x[i * dim + j] = static_cast<float>(1.5 + t * direction[j] + 0.1 * normal(rng));
    }
  }
  return x;
}

void ExpectFindsDirection(size_t dim) {
  std::vector<double> dir(dim, 0.0);
  for (size_t j = 0; j < dim; ++j) dir[j] = (j % 3 == 0) ? 1 : 0;
  double norm = 0;
  for (double v : dir) norm += v * v;
  for (double& v : dir) v /= std::sqrt(norm);
  const size_t n = 600;
  const std::vector<float> x = Elongated(n, dim, dir);
  absl::StatusOr<Pca> pca = FitPca(x, n, dim, 2);
  ASSERT_TRUE(pca.ok()) << pca.status();
  double dot = 0;
  for (size_t j = 0; j < dim; ++j) dot += pca->components[j] * dir[j];
  EXPECT_GT(std::fabs(dot), 0.999) << "dim " << dim;
  EXPECT_NEAR(pca->variances[0], 25, 3) << "dim " << dim;
  EXPECT_GT(pca->variances[0] / pca->total_variance, 0.8);
  EXPECT_NEAR(pca->mean[0], 1.5 + 0, 0.6);
  // The projection on PC1 recovers t (up to sign): its variance ≈ λ1.
  absl::StatusOr<std::vector<double>> xy = Project(*pca, x, n);
  ASSERT_TRUE(xy.ok());
  double mean = 0, sq = 0;
  for (size_t i = 0; i < n; ++i) mean += (*xy)[i * 2];
  mean /= n;
  for (size_t i = 0; i < n; ++i) sq += ((*xy)[i * 2] - mean) * ((*xy)[i * 2] - mean);
  EXPECT_NEAR(sq / (n - 1), pca->variances[0], 1e-6 * pca->variances[0] + 1e-9);
  EXPECT_NEAR(mean, 0, 1e-6);
}

TEST(PcaTest, FindsTheLongAxisInFewDims) { ExpectFindsDirection(16); }

TEST(PcaTest, FindsTheLongAxisInManyDims) { ExpectFindsDirection(300); }

// Above kFullSolverMaxDim: the subspace iteration.
TEST(PcaTest, FindsTheLongAxisWithSubspaceIteration) {
  ExpectFindsDirection(kFullSolverMaxDim + 88);
}

TEST(PcaTest, RejectsBadInput) {
  std::vector<float> x(10, 1.0f);
  EXPECT_EQ(FitPca(x, 1, 10, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPca(x, 2, 4, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FitPca(x, 2, 5, 6).status().code(), absl::StatusCode::kInvalidArgument);
  x[3] = NAN;
  EXPECT_EQ(FitPca(x, 2, 5, 2).status().code(), absl::StatusCode::kInvalidArgument);
}

// Project wants n x dim floats of the fitted dim; the message says both.
TEST(PcaTest, ProjectRejectsAWrongSize) {
  const std::vector<float> x = {0, 0, 1, 2, 2, 4, 3, 6};  // 4 points of dim 2
  absl::StatusOr<Pca> pca = FitPca(x, 4, 2, 1);
  ASSERT_TRUE(pca.ok()) << pca.status();
  absl::StatusOr<std::vector<double>> p = Project(*pca, x, 3);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), ::testing::HasSubstr("8 floats; expected 3 x 2"));
  const std::vector<float> odd = {1, 2, 3};
  EXPECT_EQ(Project(*pca, odd, 1).status().code(), absl::StatusCode::kInvalidArgument);
  // The right size projects: 4 points x 1 component.
  absl::StatusOr<std::vector<double>> ok = Project(*pca, x, 4);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 4u);
}

}  // namespace
}  // namespace latentsearch::stats

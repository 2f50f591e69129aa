// Distance kernels against the double-precision references, for every ISA
// this CPU can run (scalar, AVX2+FMA, AVX-512), every dim 1..300.
#include "common/index/metric.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/index/kernels.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::index {
namespace {

using internal::Isa;
using internal::KernelTable;
using ::latentsearch::testing::IsOkAndHolds;
using ::latentsearch::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kMaxDim = 300;

std::vector<float> RandomVector(std::mt19937& rng, size_t n, float lo = -2.0f, float hi = 2.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Sum of |terms|: the scale float rounding errors are relative to.
double Magnitude(int kind, const float* a, const float* b, size_t dim) {
  double s = 0;
  for (size_t i = 0; i < dim; ++i) {
    const double x = a[i], y = b[i];
    s += kind == internal::kScoreL1   ? std::fabs(x - y)
         : kind == internal::kScoreL2 ? (x - y) * (x - y)
                                      : std::fabs(x * y);
  }
  return s;
}

double ReferenceScore(int kind, const float* a, const float* b, size_t dim) {
  switch (kind) {
    case internal::kScoreL1:
      return ReferenceDistance(Metric::kL1, a, b, dim);
    case internal::kScoreL2: {
      const double d = ReferenceDistance(Metric::kL2, a, b, dim);
      return d * d;
    }
    default:
      return ReferenceDistance(Metric::kCosine, a, b, dim) - 1.0;  // -dot
  }
}

std::string IsaName(const ::testing::TestParamInfo<Isa>& info) {
  switch (info.param) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

class KernelTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    table_ = internal::KernelsFor(GetParam());
    if (table_ == nullptr) GTEST_SKIP() << "CPU lacks " << IsaName({GetParam(), 0});
  }
  const KernelTable* table_ = nullptr;
};

TEST_P(KernelTest, PairKernelsMatchReferenceForAllDims) {
  std::mt19937 rng(7);
  for (size_t dim = 1; dim <= kMaxDim; ++dim) {
    // Offset by one float so loads are unaligned.
    std::vector<float> a = RandomVector(rng, dim + 1);
    std::vector<float> b = RandomVector(rng, dim + 1);
    const float* pa = a.data() + 1;
    const float* pb = b.data() + 1;
    const float got[3] = {table_->l1(pa, pb, dim), table_->l2sq(pa, pb, dim),
                          -table_->dot(pa, pb, dim)};
    for (int kind = 0; kind < 3; ++kind) {
      const double ref = ReferenceScore(kind, pa, pb, dim);
      const double tol = 2e-6 * Magnitude(kind, pa, pb, dim) + 1e-30;
      EXPECT_NEAR(got[kind], ref, tol) << "dim " << dim << " kind " << kind;
    }
  }
}

TEST_P(KernelTest, IdenticalAndZeroVectors) {
  for (size_t dim : {1, 15, 16, 17, 31, 32, 33, 64, 100}) {
    std::mt19937 rng(static_cast<unsigned>(dim));
    std::vector<float> a = RandomVector(rng, dim);
    std::vector<float> zero(dim, 0.0f);
    EXPECT_EQ(table_->l1(a.data(), a.data(), dim), 0.0f);
    EXPECT_EQ(table_->l2sq(a.data(), a.data(), dim), 0.0f);
    EXPECT_EQ(table_->dot(a.data(), zero.data(), dim), 0.0f);
  }
}

TEST_P(KernelTest, KernelsAreSymmetric) {
  std::mt19937 rng(11);
  for (size_t dim = 1; dim <= 70; ++dim) {
    std::vector<float> a = RandomVector(rng, dim), b = RandomVector(rng, dim);
    EXPECT_EQ(table_->l1(a.data(), b.data(), dim), table_->l1(b.data(), a.data(), dim));
    EXPECT_EQ(table_->l2sq(a.data(), b.data(), dim), table_->l2sq(b.data(), a.data(), dim));
    EXPECT_EQ(table_->dot(a.data(), b.data(), dim), table_->dot(b.data(), a.data(), dim));
  }
}

// Row kernels must agree with the pair kernel bit for bit (exact ties
// between duplicate rows depend on it), contiguous and indexed, for row
// counts that are not multiples of the 4-row groups.
TEST_P(KernelTest, RowKernelsAreBitIdenticalToPairKernel) {
  std::mt19937 rng(13);
  for (size_t dim = 1; dim <= kMaxDim; dim += (dim < 40 ? 1 : 7)) {
    for (size_t n : {1, 3, 4, 5, 13}) {
      std::vector<float> q = RandomVector(rng, dim);
      std::vector<float> base = RandomVector(rng, n * dim);
      std::vector<uint32_t> slots(n);
      for (size_t i = 0; i < n; ++i) slots[i] = static_cast<uint32_t>(n - 1 - i);
      for (int kind = 0; kind < 3; ++kind) {
        std::vector<float> out(n), out_idx(n);
        table_->rows[kind](q.data(), base.data(), dim, nullptr, 0, n, out.data());
        table_->rows[kind](q.data(), base.data(), dim, slots.data(), 0, n, out_idx.data());
        for (size_t i = 0; i < n; ++i) {
          const float* row = base.data() + i * dim;
          const float pair = kind == internal::kScoreL1   ? table_->l1(q.data(), row, dim)
                             : kind == internal::kScoreL2 ? table_->l2sq(q.data(), row, dim)
                                                          : -table_->dot(q.data(), row, dim);
          ASSERT_EQ(out[i], pair) << "dim " << dim << " n " << n << " kind " << kind;
          ASSERT_EQ(out_idx[n - 1 - i], pair) << "indexed, dim " << dim;
        }
      }
    }
  }
}

TEST_P(KernelTest, LaneKernelsMatchReference) {
  std::mt19937 rng(17);
  for (size_t dim : {1, 2, 3, 7, 10, 16, 31, 64, 100, 256}) {
    const size_t m = 64 + 37;  // two panels, the second one padded
    std::vector<float> base = RandomVector(rng, m * dim);
    std::vector<float> panel(2 * 64 * dim);
    std::vector<float> aux[3];  // per kind: sum b (L1), ||b||² (L2, cosine)
    for (int kind = 0; kind < 3; ++kind) {
      aux[kind].resize(128);
      const float magnitude = internal::PackPanel(base.data(), dim, nullptr, 0, m, kind,
                                                  panel.data(), aux[kind].data());
      double ref_max = 0;
      for (size_t i = 0; i < m; ++i) {
        const float* row = base.data() + i * dim;
        double mag = 0, sum = 0, norm2 = 0;
        for (size_t j = 0; j < dim; ++j) {
          mag += std::fabs(double{row[j]});
          sum += row[j];
          norm2 += double{row[j]} * row[j];
        }
        if (kind == internal::kScoreL1) {
          ref_max = std::max(ref_max, mag);
          ASSERT_NEAR(aux[kind][i], sum, 1e-5 * mag);
        } else {
          ref_max = std::max(ref_max, norm2);
          ASSERT_NEAR(aux[kind][i], norm2, 1e-5 * norm2);
        }
      }
      EXPECT_NEAR(magnitude, ref_max, 1e-5 * ref_max);
    }
    for (int mq = 1; mq <= internal::kMaxLaneQueries; ++mq) {
      std::vector<float> queries = RandomVector(rng, mq * dim);
      for (int kind = 0; kind < 3; ++kind) {
        const std::vector<float>& norms = aux[kind];
        // Thresholds that split the scores (the kernel flags score <= tau).
        std::vector<float> tau(mq);
        for (int qi = 0; qi < mq; ++qi) {
          tau[qi] = kind == internal::kScoreL1   ? 0.6f * static_cast<float>(dim)
                    : kind == internal::kScoreL2 ? 0.0f
                                                 : -0.1f * static_cast<float>(qi);
        }
        for (size_t p = 0; p < 2; ++p) {
          std::vector<float> out(mq * 64, -1.0f);
          std::vector<uint64_t> masks(mq, 12345);
          table_->lane[kind](queries.data(), mq, panel.data() + p * 64 * dim, dim,
                             norms.data() + p * 64, tau.data(), out.data(), masks.data());
          for (int qi = 0; qi < mq; ++qi) {
            const float* q = queries.data() + qi * dim;
            double qnorm2 = 0, qsum = 0, qabs = 0;
            for (size_t j = 0; j < dim; ++j) {
              qnorm2 += double{q[j]} * q[j];
              qsum += q[j];
              qabs += std::fabs(double{q[j]});
            }
            for (size_t r = 0; r < 64; ++r) {
              const float got = out[qi * 64 + r];
              ASSERT_EQ(((masks[qi] >> r) & 1) != 0, got <= tau[qi])
                  << "dim " << dim << " mq " << mq << " kind " << kind << " row " << r;
              const size_t i = p * 64 + r;
              if (i >= m) continue;  // padding
              const float* row = base.data() + i * dim;
              double ref = ReferenceScore(kind, q, row, dim);
              double mag = Magnitude(kind, q, row, dim);
              if (kind == internal::kScoreL2) {
                ref -= qnorm2;  // lane L2 scores omit ||q||²
                mag = qnorm2 + 3 * norms[i] + 2 * Magnitude(internal::kScoreNegDot, q, row, dim);
              } else if (kind == internal::kScoreL1) {
                ref -= qsum;  // lane L1 scores omit sum q
                double babs = 0;
                for (size_t j = 0; j < dim; ++j) babs += std::fabs(double{row[j]});
                mag = 3 * (qabs + babs);
              }
              ASSERT_NEAR(got, ref, 4e-6 * mag + 1e-30)
                  << "dim " << dim << " mq " << mq << " kind " << kind << " row " << i;
            }
          }
        }
      }
    }
  }
}

TEST_P(KernelTest, SelectLeFindsExactlyTheQualifyingIndices) {
  std::mt19937 rng(19);
  for (size_t m : {0, 1, 7, 8, 15, 16, 17, 100, 256}) {
    std::vector<float> s = RandomVector(rng, m, 0.0f, 1.0f);
    if (m > 3) s[3] = std::nanf("");
    std::vector<uint32_t> idx(m + 1);
    const size_t n = table_->select_le(s.data(), m, 0.25f, idx.data());
    std::vector<uint32_t> want;
    for (size_t i = 0; i < m; ++i) {
      if (s[i] <= 0.25f) want.push_back(static_cast<uint32_t>(i));
    }
    idx.resize(n);
    EXPECT_EQ(idx, want) << "m " << m;
  }
}

// The table's pack (a transposing one for AVX-512) equals the portable
// PackPanel: same panel bytes, aux within rounding, same magnitude bound.
TEST_P(KernelTest, PackMatchesPortablePack) {
  std::mt19937 rng(37);
  for (size_t dim : {1, 5, 16, 17, 33, 64, 100}) {
    for (size_t m : {1, 15, 16, 17, 64, 70, 130}) {
      std::vector<float> base = RandomVector(rng, (m + 3) * dim);
      std::vector<uint32_t> slots(m);
      for (size_t i = 0; i < m; ++i) slots[i] = static_cast<uint32_t>((i * 7) % (m + 3));
      const size_t padded = (m + 63) / 64 * 64;
      for (int kind = 0; kind < 3; ++kind) {
        for (const uint32_t* sl :
             {static_cast<const uint32_t*>(nullptr), static_cast<const uint32_t*>(slots.data())}) {
          std::vector<float> p1(padded * dim, 7.0f), p2(padded * dim, 8.0f);
          std::vector<float> a1(padded, 7.0f), a2(padded, 8.0f);
          const float m1 =
              internal::PackPanel(base.data(), dim, sl, 2, m, kind, p1.data(), a1.data());
          const float m2 = table_->pack(base.data(), dim, sl, 2, m, kind, p2.data(), a2.data());
          ASSERT_EQ(p1, p2) << "dim " << dim << " m " << m;
          for (size_t i = 0; i < padded; ++i) {
            ASSERT_NEAR(a1[i], a2[i], 1e-5 * (1 + std::fabs(a1[i]))) << i;
          }
          ASSERT_NEAR(m1, m2, 1e-5 * (1 + m1));
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, KernelTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512), IsaName);

TEST(PackPanelTest, LayoutIsDimMajorWithinPanelsOf64) {
  const size_t dim = 3, m = 70;
  std::vector<float> base(m * dim);
  for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<float>(i);
  std::vector<uint32_t> slots(m);
  for (size_t i = 0; i < m; ++i) slots[i] = static_cast<uint32_t>(m - 1 - i);
  std::vector<float> panel(2 * 64 * dim, 99.0f), norms(128, 99.0f);
  internal::PackPanel(base.data(), dim, slots.data(), 0, m, internal::kScoreL2, panel.data(),
                      norms.data());
  for (size_t i = 0; i < 128; ++i) {
    for (size_t j = 0; j < dim; ++j) {
      const float got = panel[(i / 64) * 64 * dim + j * 64 + i % 64];
      const float want = i < m ? base[slots[i] * dim + j] : 0.0f;
      ASSERT_EQ(got, want) << i << "," << j;
    }
    if (i >= m) {
      EXPECT_EQ(norms[i], 0.0f);
    }
  }
}

TEST(DispatchTest, TestHookForcesEachSupportedIsa) {
  EXPECT_TRUE(internal::SetIsaForTesting(Isa::kScalar));
  EXPECT_EQ(KernelIsa(), "scalar");
  if (internal::SetIsaForTesting(Isa::kAvx2)) {
    EXPECT_EQ(KernelIsa(), "avx2");
  }
  if (internal::SetIsaForTesting(Isa::kAvx512)) {
    EXPECT_EQ(KernelIsa(), "avx512");
  }
  internal::ResetIsaForTesting();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  EXPECT_EQ(KernelIsa(), avx512 ? "avx512" : internal::Kernels().name);
}

TEST(DispatchTest, PublicFunctionsUseTheActiveIsa) {
  std::mt19937 rng(23);
  const size_t dim = 37;
  std::vector<float> a = RandomVector(rng, dim), b = RandomVector(rng, dim);
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    const KernelTable* t = internal::KernelsFor(isa);
    if (t == nullptr) continue;
    ASSERT_TRUE(internal::SetIsaForTesting(isa));
    EXPECT_EQ(L1(a.data(), b.data(), dim), t->l1(a.data(), b.data(), dim));
    EXPECT_EQ(L2Squared(a.data(), b.data(), dim), t->l2sq(a.data(), b.data(), dim));
    EXPECT_EQ(Dot(a.data(), b.data(), dim), t->dot(a.data(), b.data(), dim));
    EXPECT_EQ(Score(Metric::kCosine, a.data(), b.data(), dim), -t->dot(a.data(), b.data(), dim));
    std::vector<float> out(1);
    ScoreMany(Metric::kL2, a.data(), b.data(), 1, dim, out.data());
    EXPECT_EQ(out[0], t->l2sq(a.data(), b.data(), dim));
  }
  internal::ResetIsaForTesting();
}

TEST(MetricTest, NamesRoundTripCaseInsensitively) {
  for (Metric m : kAllMetrics) {
    EXPECT_THAT(ParseMetric(MetricName(m)), IsOkAndHolds(m));
  }
  EXPECT_THAT(ParseMetric("COSINE"), IsOkAndHolds(Metric::kCosine));
  EXPECT_THAT(ParseMetric("L2"), IsOkAndHolds(Metric::kL2));
  EXPECT_THAT(ParseMetric("hamming"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("allowed: l1, l2, cosine")));
  EXPECT_THAT(ParseMetric(""), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"\"")));
}

TEST(MetricTest, ScoreToDistance) {
  EXPECT_EQ(ScoreToDistance(Metric::kL1, 3.0f), 3.0f);
  EXPECT_EQ(ScoreToDistance(Metric::kL2, 9.0f), 3.0f);
  EXPECT_EQ(ScoreToDistance(Metric::kL2, -1e-7f), 0.0f);  // rounding below zero
  EXPECT_EQ(ScoreToDistance(Metric::kCosine, -1.0f), 0.0f);
  EXPECT_EQ(ScoreToDistance(Metric::kCosine, 0.0f), 1.0f);
}

TEST(MetricTest, ScoreMatchesReferenceDistanceThroughScoreToDistance) {
  std::mt19937 rng(29);
  const size_t dim = 50;
  std::vector<float> a = RandomVector(rng, dim), b = RandomVector(rng, dim);
  NormalizeRows(a.data(), 1, dim);
  NormalizeRows(b.data(), 1, dim);
  for (Metric m : kAllMetrics) {
    const double ref = ReferenceDistance(m, a.data(), b.data(), dim);
    EXPECT_NEAR(ScoreToDistance(m, Score(m, a.data(), b.data(), dim)), ref,
                1e-5 * std::max(1.0, ref))
        << MetricName(m);
  }
}

TEST(MetricTest, NormalizeRowsGivesUnitRowsAndKeepsZeroRows) {
  std::mt19937 rng(31);
  const size_t n = 5, dim = 33;
  std::vector<float> rows = RandomVector(rng, n * dim, -100.0f, 100.0f);
  for (size_t j = 0; j < dim; ++j) rows[2 * dim + j] = 0.0f;
  NormalizeRows(rows.data(), n, dim);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += double{rows[i * dim + j]} * rows[i * dim + j];
    EXPECT_NEAR(s, i == 2 ? 0.0 : 1.0, 1e-6) << "row " << i;
  }
  // Cosine distance of a zero row to anything is 1.
  EXPECT_EQ(ScoreToDistance(Metric::kCosine,
                            Score(Metric::kCosine, rows.data() + 2 * dim, rows.data(), dim)),
            1.0f);
}

}  // namespace
}  // namespace latentsearch::index

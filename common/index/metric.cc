#include "common/index/metric.h"

#include <atomic>
#include <cmath>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/index/kernels.h"

namespace latentsearch::index {
namespace internal {
namespace {

bool CpuHas(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      // libgcc's check includes the OS enabling the zmm state (XCR0).
      return __builtin_cpu_supports("avx512f");
  }
  return false;
}

const KernelTable* Best() {
  if (CpuHas(Isa::kAvx512)) return &kAvx512Kernels;
  if (CpuHas(Isa::kAvx2)) return &kAvx2Kernels;
  return &kScalarKernels;
}

std::atomic<const KernelTable*>& Active() {
  static std::atomic<const KernelTable*> active{Best()};
  return active;
}

}  // namespace

const KernelTable& Kernels() { return *Active().load(std::memory_order_relaxed); }

const KernelTable* KernelsFor(Isa isa) {
  if (!CpuHas(isa)) return nullptr;
  switch (isa) {
    case Isa::kScalar:
      return &kScalarKernels;
    case Isa::kAvx2:
      return &kAvx2Kernels;
    case Isa::kAvx512:
      return &kAvx512Kernels;
  }
  return nullptr;
}

bool SetIsaForTesting(Isa isa) {
  const KernelTable* table = KernelsFor(isa);
  if (table == nullptr) return false;
  Active().store(table, std::memory_order_relaxed);
  return true;
}

void ResetIsaForTesting() { Active().store(Best(), std::memory_order_relaxed); }

}  // namespace internal

absl::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kL1:
      return "l1";
    case Metric::kL2:
      return "l2";
    case Metric::kCosine:
      return "cosine";
  }
  return "unknown";
}

absl::StatusOr<Metric> ParseMetric(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (Metric m : kAllMetrics) {
    if (lower == MetricName(m)) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric \"", name, "\"; allowed: l1, l2, cosine"));
}

absl::string_view KernelIsa() { return internal::Kernels().name; }

float L1(const float* a, const float* b, size_t dim) { return internal::Kernels().l1(a, b, dim); }

float L2Squared(const float* a, const float* b, size_t dim) {
  return internal::Kernels().l2sq(a, b, dim);
}

float Dot(const float* a, const float* b, size_t dim) { return internal::Kernels().dot(a, b, dim); }

float Score(Metric metric, const float* a, const float* b, size_t dim) {
  const internal::KernelTable& k = internal::Kernels();
  switch (metric) {
    case Metric::kL1:
      return k.l1(a, b, dim);
    case Metric::kL2:
      return k.l2sq(a, b, dim);
    case Metric::kCosine:
      return -k.dot(a, b, dim);
  }
  return 0;
}

float ScoreToDistance(Metric metric, float score) {
  switch (metric) {
    case Metric::kL1:
      return score;
    case Metric::kL2:
      return score > 0 ? std::sqrt(score) : 0.0f;
    case Metric::kCosine:
      return 1.0f + score;
  }
  return score;
}

void ScoreMany(Metric metric, const float* query, const float* base, size_t n, size_t dim,
               float* out) {
  if (n == 0) return;
  const internal::KernelTable& k = internal::Kernels();
  const int kind = metric == Metric::kL1   ? internal::kScoreL1
                   : metric == Metric::kL2 ? internal::kScoreL2
                                           : internal::kScoreNegDot;
  k.rows[kind](query, base, dim, /*slots=*/nullptr, /*first=*/0, n, out);
}

double ReferenceDistance(Metric metric, const float* a, const float* b, size_t dim) {
  double s = 0;
  switch (metric) {
    case Metric::kL1:
      for (size_t i = 0; i < dim; ++i) {
        s += std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
      }
      return s;
    case Metric::kL2:
      for (size_t i = 0; i < dim; ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        s += d * d;
      }
      return std::sqrt(s);
    case Metric::kCosine:
      for (size_t i = 0; i < dim; ++i) {
        s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
      }
      return 1.0 - s;
  }
  return 0;
}

void NormalizeRows(float* rows, size_t n, size_t dim) {
  for (size_t i = 0; i < n; ++i) {
    float* r = rows + i * dim;
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += static_cast<double>(r[j]) * r[j];
    if (s == 0 || !std::isfinite(s)) continue;
    const double inv = 1.0 / std::sqrt(s);
    for (size_t j = 0; j < dim; ++j) {
      r[j] = static_cast<float>(static_cast<double>(r[j]) * inv);
    }
  }
}

float InverseNorm(const float* row, size_t dim) {
  double s = 0;
  for (size_t j = 0; j < dim; ++j) s += static_cast<double>(row[j]) * row[j];
  if (s == 0 || !std::isfinite(s)) return 0;
  return static_cast<float>(1.0 / std::sqrt(s));
}

}  // namespace latentsearch::index

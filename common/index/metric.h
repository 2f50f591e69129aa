// Metrics and their distance kernels. One Metric enum for the whole project
// (STYLE.md point 8). Distances: smaller is closer, always.
//   L1:     sum_i |a_i - b_i|
//   L2:     sqrt(sum_i (a_i - b_i)^2)   (kernels rank by the squared value)
//   cosine: 1 - a.b for vectors normalised once on insert (NormalizeRows);
//           a zero vector stays zero and has distance 1 to everything.
// Kernels are chosen at run time (AVX-512, AVX2+FMA, portable fallback);
// Reference*() are plain scalar loops, the oracle for tests.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_INDEX_METRIC_H_
#define LATENTSEARCH_COMMON_INDEX_METRIC_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::index {

enum class Metric { kL1 = 0, kL2 = 1, kCosine = 2 };
inline constexpr Metric kAllMetrics[] = {Metric::kL1, Metric::kL2, Metric::kCosine};
// How many metrics there are; a Metric's value is its index in per-metric
// arrays (0 .. kNumMetrics - 1).
inline constexpr size_t kNumMetrics = sizeof(kAllMetrics) / sizeof(kAllMetrics[0]);

// "l1", "l2", "cosine".
absl::string_view MetricName(Metric metric);
// Inverse of MetricName (case-insensitive); INVALID_ARGUMENT listing the
// allowed names.
absl::StatusOr<Metric> ParseMetric(absl::string_view name);

// The instruction set the dispatched kernels use: "avx512", "avx2", "scalar".
absl::string_view KernelIsa();

// The value kernels rank by ("score"): L1 distance, squared L2 distance, or
// -dot for cosine (on normalised vectors). ScoreToDistance turns it into the
// user-facing distance (sqrt for L2, 1 + score for cosine).
float Score(Metric metric, const float* a, const float* b, size_t dim);
float ScoreToDistance(Metric metric, float score);

// Scores of one query against n rows of `base` (n × dim, row-major) into
// out[0..n).
void ScoreMany(Metric metric, const float* query, const float* base, size_t n, size_t dim,
               float* out);

// Dispatched primitives (also used by the hnswlib spaces).
float L1(const float* a, const float* b, size_t dim);
float L2Squared(const float* a, const float* b, size_t dim);
float Dot(const float* a, const float* b, size_t dim);

// Scalar references (double accumulation) returning the user-facing distance.
// For kCosine, a and b must already be normalised (as the index stores them).
double ReferenceDistance(Metric metric, const float* a, const float* b, size_t dim);

// Normalises each of n rows (n × dim, in place) to unit L2 norm; zero rows
// stay zero.
void NormalizeRows(float* rows, size_t n, size_t dim);

// 1/||row|| (double accumulation, as NormalizeRows), 0 for a zero row: what
// the collection keeps per vector instead of a normalised copy, so cosine
// scores are -q.row · InverseNorm(row) for a normalised query q.
float InverseNorm(const float* row, size_t dim);

}  // namespace latentsearch::index

#endif  // LATENTSEARCH_COMMON_INDEX_METRIC_H_

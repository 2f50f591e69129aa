// The numeric precision a model computes in, and choosing it by
// measurement (--precision=auto of the trainer and the encoder): the
// modes, the injectable timing source, the decision rule, the two safety
// guards (training: the loss over trial steps; serving: the embeddings of
// probe images and their nearest neighbours) and the record of a choice.
// Plain C++, no LibTorch: the trainer (services/trainer/training.cc) and
// the encoder (services/encoder/model_registry.cc) run the trials.
//
// The rule: keep bf16 only when it was measured at least
// kMinBf16Speedup times faster than fp32 on the same work AND the guard
// passed; otherwise fp32 (exact, and the tie-break: a bf16 within timing
// noise of fp32 buys nothing).
//
// Thread-safety: pure functions and values; a PrecisionTimer is called
// from one thread at a time.
#ifndef LATENTSEARCH_COMMON_MODEL_PRECISION_H_
#define LATENTSEARCH_COMMON_MODEL_PRECISION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace latentsearch::model {

enum class Precision {
  // Measure fp32 and bf16 at start and keep the faster safe one.
  kAuto,
  kFloat32,
  // bf16 autocast for convolutions and matrix products (oneDNN / AMX on
  // CPU); weights, losses and optimiser state stay float32.
  kBFloat16,
};

// "auto", "fp32", "bf16".
const char* PrecisionName(Precision p);
// "auto", "fp32" or "bf16"; else INVALID_ARGUMENT listing them.
absl::StatusOr<Precision> ParsePrecision(absl::string_view name);

// bf16 must be this many times faster than fp32 to be kept.
inline constexpr double kMinBf16Speedup = 1.05;
// Training guard: at every trial step |bf16 loss − fp32 loss| / fp32 loss
// must stay within this (docs/training.md says how it was sized).
inline constexpr double kTrainLossTolerance = 0.02;
// Serving guards: every probe image's bf16 embedding within this cosine
// similarity of its fp32 one, and the mean top-10 neighbour overlap at
// least kMinNeighbourOverlap.
inline constexpr double kMinEmbeddingCosine = 0.999;
inline constexpr double kMinNeighbourOverlap = 0.95;
inline constexpr int kOverlapNeighbours = 10;
// A bf16 neighbour counts as shared when its fp32 distance is within this
// relative margin of fp32's 10th-nearest distance (near-ties are not
// disagreements; ann-benchmarks counts recall the same way).
inline constexpr double kTieTolerance = 1e-3;

// Times one trial: runs `run` (the trial's work in `precision`, which
// fills in what the guard needs) and answers its wall seconds, or run's
// error. Tests inject fakes that run it and answer fixed figures.
using PrecisionTimer = std::function<absl::StatusOr<double>(
    Precision precision, const std::function<absl::Status()>& run)>;
// The default: steady-clock wall time of `run`.
PrecisionTimer WallTimer();

// How a precision was chosen; reported in the trainer's job events, the
// encoder's ListModels, the logs and /metrics.
struct PrecisionChoice {
  Precision requested = Precision::kAuto;  // What was asked for.
  Precision chosen = Precision::kFloat32;  // kFloat32 or kBFloat16.
  bool measured = false;                   // A trial timed both.
  // Mean seconds per trial unit (a training step, an encoder batch);
  // NaN when not measured.
  double fp32_seconds = std::numeric_limits<double>::quiet_NaN();
  double bf16_seconds = std::numeric_limits<double>::quiet_NaN();
  int trial_units = 0;     // Timed units per precision.
  int trial_batch = 0;     // Images per unit.
  bool bf16_safe = false;  // The guard passed.
  // Training guard: the largest relative loss difference; NaN if not run.
  double loss_difference = std::numeric_limits<double>::quiet_NaN();
  // Serving guards; NaN if not run.
  double min_cosine = std::numeric_limits<double>::quiet_NaN();
  double neighbour_overlap = std::numeric_limits<double>::quiet_NaN();
  std::string reason;  // One line: why `chosen`.
  absl::Time decided_at = absl::InfinitePast();
};

// The explicit choice for requested kFloat32 / kBFloat16 (no trial).
PrecisionChoice FixedChoice(Precision requested);

// Fills choice->chosen and ->reason from the timings and bf16_safe (with
// `guard` naming the guard's figures for the reason, e.g. "loss within
// 0.3 % of fp32's (bound 2 %)").
void DecidePrecision(PrecisionChoice* choice, absl::string_view guard);

// The training guard: max over i of |bf16[i] − fp32[i]| / max(|fp32[i]|,
// 1e-12); +inf when the lengths differ, either is empty, or a loss is not
// finite.
double MaxRelativeLossDifference(absl::Span<const double> fp32, absl::Span<const double> bf16);

// The serving guards over n embeddings of `dim` floats each (row-major,
// n × dim): the lowest cosine similarity between a row of `fp32` and the
// same row of `bf16`, and the mean overlap (0..1) of each row's
// min(k, n − 1) nearest other rows, by L2 and by cosine distance (the
// lower of the two means; a bf16 neighbour is shared when its fp32
// distance is within kTieTolerance of fp32's k-th). A zero row has cosine 1
// with a zero row, else 0.
struct EmbeddingAgreement {
  double min_cosine = 0;
  double neighbour_overlap = 0;
};
EmbeddingAgreement CompareEmbeddings(absl::Span<const float> fp32, absl::Span<const float> bf16,
                                     size_t n, size_t dim, int k = kOverlapNeighbours);

// One line for logs: "bf16 (auto: fp32 0.412 s, bf16 0.219 s per step;
// ...)".
std::string DescribeChoice(const PrecisionChoice& choice, absl::string_view unit);

// A choice as text (key=value lines) and back, to keep it beside a stored
// model; DATA_LOSS for text that does not parse.
std::string SerializeChoice(const PrecisionChoice& choice);
absl::StatusOr<PrecisionChoice> ParseChoice(absl::string_view text);

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_PRECISION_H_

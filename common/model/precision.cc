// The precision modes, the decision rule, the guards and the record of a
// choice (precision.h).
#include "common/model/precision.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace latentsearch::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Indices of the min(k, n − 1) rows nearest row q (itself excluded) by
// `dist`, sorted by (distance, index) so that ties are broken the same way
// in both precisions.
template <typename Dist>
std::vector<size_t> Nearest(size_t q, size_t n, int k, Dist dist) {
  std::vector<std::pair<double, size_t>> d;
  d.reserve(n);
  for (size_t j = 0; j < n; ++j) {
    if (j != q) d.emplace_back(dist(q, j), j);
  }
  const size_t keep = std::min(static_cast<size_t>(std::max(k, 0)), d.size());
  std::partial_sort(d.begin(), d.begin() + keep, d.end());
  std::vector<size_t> out(keep);
  for (size_t i = 0; i < keep; ++i) out[i] = d[i].second;
  std::sort(out.begin(), out.end());
  return out;
}

// Mean top-k overlap between the rows of `a` (fp32) and of `b` (bf16)
// under `metric` (0 = L2, 1 = cosine distance). A row of b's top k counts
// as shared when a's distance to it is within kTieTolerance of a's k-th
// nearest distance (ann-benchmarks' rule: near-ties are not disagreements).
double MeanOverlap(absl::Span<const float> a, absl::Span<const float> b, size_t n, size_t dim,
                   int k, int metric) {
  auto norms = [&](absl::Span<const float> x) {
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < dim; ++j) s += double{x[i * dim + j]} * x[i * dim + j];
      out[i] = std::sqrt(s);
    }
    return out;
  };
  const std::vector<double> na = norms(a), nb = norms(b);
  auto dist = [dim, metric](absl::Span<const float> x, const std::vector<double>* nx) {
    return [dim, metric, x, nx](size_t p, size_t q) {
      double dot = 0, l2 = 0;
      for (size_t j = 0; j < dim; ++j) {
        const double u = x[p * dim + j], v = x[q * dim + j];
        dot += u * v;
        l2 += (u - v) * (u - v);
      }
      if (metric == 0) return l2;
      const double denom = (*nx)[p] * (*nx)[q];
      return denom > 0 ? 1 - dot / denom : 1.0;
    };
  };
  const auto da = dist(a, &na);
  double sum = 0;
  for (size_t q = 0; q < n; ++q) {
    const std::vector<size_t> want = Nearest(q, n, k, da);
    const std::vector<size_t> got = Nearest(q, n, k, dist(b, &nb));
    if (want.empty()) {
      sum += 1;
      continue;
    }
    double kth = 0;
    for (size_t j : want) kth = std::max(kth, da(q, j));
    size_t shared = 0;
    for (size_t j : got) shared += da(q, j) <= kth * (1 + kTieTolerance) ? 1 : 0;
    sum += static_cast<double>(shared) / static_cast<double>(got.size());
  }
  return n > 0 ? sum / static_cast<double>(n) : 1;
}

std::string Num(double v) { return std::isnan(v) ? "nan" : absl::StrFormat("%.17g", v); }

bool ParseNum(absl::string_view s, double* out) {
  if (s == "nan") {
    *out = kNaN;
    return true;
  }
  return absl::SimpleAtod(s, out);
}

}  // namespace

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kAuto:
      return "auto";
    case Precision::kFloat32:
      return "fp32";
    case Precision::kBFloat16:
      return "bf16";
  }
  return "?";
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view name) {
  for (Precision p : {Precision::kAuto, Precision::kFloat32, Precision::kBFloat16}) {
    if (name == PrecisionName(p)) return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("precision '", name, "' is not one of auto, fp32, bf16"));
}

PrecisionTimer WallTimer() {
  return [](Precision, const std::function<absl::Status()>& run) -> absl::StatusOr<double> {
    const auto start = std::chrono::steady_clock::now();
    absl::Status s = run();
    if (!s.ok()) return s;
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    return took.count();
  };
}

PrecisionChoice FixedChoice(Precision requested) {
  PrecisionChoice c;
  c.requested = requested;
  c.chosen = requested == Precision::kBFloat16 ? Precision::kBFloat16 : Precision::kFloat32;
  c.bf16_safe = c.chosen == Precision::kBFloat16;
  c.reason = absl::StrCat(PrecisionName(c.chosen), " as asked (no trial)");
  return c;
}

void DecidePrecision(PrecisionChoice* c, absl::string_view guard) {
  const double speed = c->bf16_seconds > 0 ? c->fp32_seconds / c->bf16_seconds : 0;
  const bool faster = std::isfinite(speed) && speed >= kMinBf16Speedup;
  c->chosen = faster && c->bf16_safe ? Precision::kBFloat16 : Precision::kFloat32;
  const std::string pace = absl::StrFormat("bf16 is %.2fx fp32's speed", speed);
  if (!faster) {
    c->reason = absl::StrCat(pace, " (needs ", kMinBf16Speedup, "x; ", guard, "): fp32 kept");
  } else if (!c->bf16_safe) {
    c->reason = absl::StrCat(pace, " but refused (", guard, "): fp32 kept");
  } else {
    c->reason = absl::StrCat(pace, " and safe (", guard, "): bf16 chosen");
  }
}

double MaxRelativeLossDifference(absl::Span<const double> fp32, absl::Span<const double> bf16) {
  const double inf = std::numeric_limits<double>::infinity();
  if (fp32.empty() || fp32.size() != bf16.size()) return inf;
  double worst = 0;
  for (size_t i = 0; i < fp32.size(); ++i) {
    if (!std::isfinite(fp32[i]) || !std::isfinite(bf16[i])) return inf;
    worst = std::max(worst, std::abs(bf16[i] - fp32[i]) / std::max(std::abs(fp32[i]), 1e-12));
  }
  return worst;
}

EmbeddingAgreement CompareEmbeddings(absl::Span<const float> fp32, absl::Span<const float> bf16,
                                     size_t n, size_t dim, int k) {
  EmbeddingAgreement out;
  if (n == 0 || dim == 0 || fp32.size() != n * dim || bf16.size() != n * dim) return out;
  out.min_cosine = 1;
  for (size_t i = 0; i < n; ++i) {
    double dot = 0, aa = 0, bb = 0;
    bool finite = true;
    for (size_t j = 0; j < dim; ++j) {
      const double a = fp32[i * dim + j], b = bf16[i * dim + j];
      finite = finite && std::isfinite(a) && std::isfinite(b);
      dot += a * b;
      aa += a * a;
      bb += b * b;
    }
    double cos = aa == 0 && bb == 0 ? 1.0 : (aa > 0 && bb > 0 ? dot / std::sqrt(aa * bb) : 0.0);
    if (!finite) cos = -1;
    out.min_cosine = std::min(out.min_cosine, cos);
  }
  out.neighbour_overlap =
      std::min(MeanOverlap(fp32, bf16, n, dim, k, 0), MeanOverlap(fp32, bf16, n, dim, k, 1));
  return out;
}

std::string DescribeChoice(const PrecisionChoice& c, absl::string_view unit) {
  std::string s = absl::StrCat(PrecisionName(c.chosen), " (", PrecisionName(c.requested));
  if (c.measured) {
    absl::StrAppend(&s, absl::StrFormat(": fp32 %.4f s, bf16 %.4f s per %s of %d", c.fp32_seconds,
                                        c.bf16_seconds, unit, c.trial_batch));
  }
  absl::StrAppend(&s, "; ", c.reason, ")");
  return s;
}

std::string SerializeChoice(const PrecisionChoice& c) {
  return absl::StrCat(
      "format=1\nrequested=", PrecisionName(c.requested), "\nchosen=", PrecisionName(c.chosen),
      "\nmeasured=", c.measured ? 1 : 0, "\nfp32_seconds=", Num(c.fp32_seconds),
      "\nbf16_seconds=", Num(c.bf16_seconds), "\ntrial_units=", c.trial_units,
      "\ntrial_batch=", c.trial_batch, "\nbf16_safe=", c.bf16_safe ? 1 : 0,
      "\nloss_difference=", Num(c.loss_difference), "\nmin_cosine=", Num(c.min_cosine),
      "\nneighbour_overlap=", Num(c.neighbour_overlap), "\ndecided_at_unix_nanos=",
      c.decided_at == absl::InfinitePast() ? std::string("none")
                                           : absl::StrCat(absl::ToUnixNanos(c.decided_at)),
      "\nreason=", c.reason, "\n");
}

absl::StatusOr<PrecisionChoice> ParseChoice(absl::string_view text) {
  std::map<std::string, std::string> kv;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(line, absl::MaxSplits('=', 1));
    kv[p.first] = p.second;
  }
  auto bad = [](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("stored precision choice: bad or missing ", what));
  };
  if (kv["format"] != "1") return bad("format");
  PrecisionChoice c;
  absl::StatusOr<Precision> requested = ParsePrecision(kv["requested"]);
  absl::StatusOr<Precision> chosen = ParsePrecision(kv["chosen"]);
  if (!requested.ok()) return bad("requested");
  if (!chosen.ok() || *chosen == Precision::kAuto) return bad("chosen");
  c.requested = *requested;
  c.chosen = *chosen;
  c.measured = kv["measured"] == "1";
  c.bf16_safe = kv["bf16_safe"] == "1";
  int64_t nanos = 0;
  if (!ParseNum(kv["fp32_seconds"], &c.fp32_seconds) ||
      !ParseNum(kv["bf16_seconds"], &c.bf16_seconds) ||
      !ParseNum(kv["loss_difference"], &c.loss_difference) ||
      !ParseNum(kv["min_cosine"], &c.min_cosine) ||
      !ParseNum(kv["neighbour_overlap"], &c.neighbour_overlap) ||
      !absl::SimpleAtoi(kv["trial_units"], &c.trial_units) ||
      !absl::SimpleAtoi(kv["trial_batch"], &c.trial_batch) ||
      (kv["decided_at_unix_nanos"] != "none" &&
       !absl::SimpleAtoi(kv["decided_at_unix_nanos"], &nanos))) {
    return bad("figures");
  }
  if (kv["decided_at_unix_nanos"] != "none") c.decided_at = absl::FromUnixNanos(nanos);
  c.reason = kv["reason"];
  return c;
}

}  // namespace latentsearch::model

#include "common/eval/knn_precision.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/eval/retrieval_quality.h"
#include "common/index/exact.h"

namespace latentsearch::eval {
namespace {

absl::Status CheckSizes(absl::Span<const float> base, size_t n, absl::Span<const float> queries,
                        size_t nq, size_t dim, bool queries_are_base, size_t k) {
  if (dim == 0 || k == 0 || base.size() != n * dim || queries.size() != nq * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("PrecisionAtK: ", base.size(), " base floats for ", n, " labels, ",
                     queries.size(), " query floats for ", nq, " labels, dim ", dim, ", k ", k,
                     " (need n x dim and nq x dim floats, dim >= 1, k >= 1)"));
  }
  const size_t candidates = queries_are_base ? n - (n > 0 ? 1 : 0) : n;
  if (candidates < k || nq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PrecisionAtK: ", candidates, " candidate rows for k = ", k, " and ", nq, " queries"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> KnnPrecisionAtK(index::Metric metric, absl::Span<const float> base,
                                       absl::Span<const int32_t> base_labels,
                                       absl::Span<const float> queries,
                                       absl::Span<const int32_t> query_labels, size_t dim,
                                       bool queries_are_base, const KnnPrecisionOptions& options) {
  const size_t n = base_labels.size(), nq = query_labels.size();
  LS_RETURN_IF_ERROR(CheckSizes(base, n, queries, nq, dim, queries_are_base, options.k));
  std::vector<float> b, q;
  const float* bp = base.data();
  const float* qp = queries.data();
  if (metric == index::Metric::kCosine) {
    b.assign(base.begin(), base.end());
    index::NormalizeRows(b.data(), n, dim);
    bp = b.data();
    if (queries_are_base) {
      qp = bp;
    } else {
      q.assign(queries.begin(), queries.end());
      index::NormalizeRows(q.data(), nq, dim);
      qp = q.data();
    }
  }
  index::ExactSearchOptions so;
  so.k = options.k + (queries_are_base ? 1 : 0);
  so.num_threads = options.threads;
  std::vector<std::vector<index::Neighbor>> results;
  LS_RETURN_IF_ERROR(index::ExactSearch(metric, bp, n, dim, qp, nq, so, &results));
  const int k = static_cast<int>(options.k);
  double sum = 0;
  std::vector<int32_t> ranked;
  for (size_t i = 0; i < nq; ++i) {
    ranked.clear();
    for (const index::Neighbor& nb : results[i]) {
      if (queries_are_base && nb.slot == i) continue;
      ranked.push_back(base_labels[nb.slot]);
    }
    sum += PrecisionAtK(ranked, query_labels[i], k);
  }
  return sum / static_cast<double>(nq);
}

}  // namespace latentsearch::eval

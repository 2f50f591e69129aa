#include "common/eval/knn_precision.h"

#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/eval/knn_ranking.h"
#include "common/eval/retrieval_quality.h"

namespace latentsearch::eval {
namespace {

absl::Status CheckSizes(absl::Span<const float> base, size_t n, absl::Span<const float> queries,
                        size_t nq, size_t dim, bool queries_are_base, size_t k) {
  if (dim == 0 || k == 0 || base.size() != n * dim || queries.size() != nq * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("KnnPrecisionAtK: ", base.size(), " base floats for ", n, " labels, ",
                     queries.size(), " query floats for ", nq, " labels, dim ", dim, ", k ", k,
                     " (need n x dim and nq x dim floats, dim >= 1, k >= 1)"));
  }
  const size_t candidates = queries_are_base ? n - (n > 0 ? 1 : 0) : n;
  if (candidates < k || nq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KnnPrecisionAtK: ", candidates, " candidate rows for k = ", k, " and ", nq, " queries"));
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
  std::vector<uint32_t> self_rows;
  if (queries_are_base) {
    self_rows.resize(nq);
    std::iota(self_rows.begin(), self_rows.end(), 0u);
  }
  KnnRankOptions ro;
  ro.k = options.k + (queries_are_base ? 1 : 0);
  ro.threads = options.threads;
  ro.self_rows = self_rows;
  LS_ASSIGN_OR_RETURN(std::vector<RankedLabels> ranked,
                      KnnRankedLabels(metric, base, base_labels, queries, dim, ro));
  const int k = static_cast<int>(options.k);
  double sum = 0;
  for (size_t i = 0; i < nq; ++i) sum += PrecisionAtK(ranked[i].excluding_self, query_labels[i], k);
  return sum / static_cast<double>(nq);
}

}  // namespace latentsearch::eval

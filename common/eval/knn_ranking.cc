#include "common/eval/knn_ranking.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/index/exact.h"

namespace latentsearch::eval {
namespace {

absl::Status CheckRankInput(absl::Span<const float> base, size_t n, absl::Span<const float> queries,
                            size_t dim, const KnnRankOptions& options) {
  if (dim == 0 || options.k == 0 || base.size() != n * dim || queries.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KnnRankedLabels: ", base.size(), " base floats for ", n, " labels, ",
                     queries.size(), " query floats, dim ", dim, ", k ", options.k,
                     " (need n x dim and a multiple of dim floats, dim >= 1, k >= 1)"));
  }
  const size_t nq = queries.size() / dim;
  if (!options.self_rows.empty() && options.self_rows.size() != nq) {
    return absl::InvalidArgumentError(absl::StrCat("KnnRankedLabels: ", options.self_rows.size(),
                                                   " self rows for ", nq,
                                                   " queries (need none or one per query)"));
  }
  for (uint32_t row : options.self_rows) {
    if (row != kNotInBase && row >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("KnnRankedLabels: self row ", row, " of a base of ", n, " rows"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<RankedLabels>> KnnRankedLabels(
    index::Metric metric, absl::Span<const float> base, absl::Span<const int32_t> base_labels,
    absl::Span<const float> queries, size_t dim, const KnnRankOptions& options) {
  const size_t n = base_labels.size();
  LS_RETURN_IF_ERROR(CheckRankInput(base, n, queries, dim, options));
  const size_t nq = queries.size() / dim;
  std::vector<float> b, q;
  const float* bp = base.data();
  const float* qp = queries.data();
  if (metric == index::Metric::kCosine) {
    b.assign(base.begin(), base.end());
    index::NormalizeRows(b.data(), n, dim);
    if (qp == bp && queries.size() == base.size()) {
      qp = b.data();
    } else {
      q.assign(queries.begin(), queries.end());
      index::NormalizeRows(q.data(), nq, dim);
      qp = q.data();
    }
    bp = b.data();
  }
  index::ExactSearchOptions so;
  so.k = options.k;
  so.num_threads = options.threads;
  std::vector<std::vector<index::Neighbor>> results;
  LS_RETURN_IF_ERROR(index::ExactSearch(metric, bp, n, dim, qp, nq, so, &results));
  std::vector<RankedLabels> ranked(nq);
  for (size_t i = 0; i < nq; ++i) {
    const uint32_t self = options.self_rows.empty() ? kNotInBase : options.self_rows[i];
    for (const index::Neighbor& nb : results[i]) {
      ranked[i].including_self.push_back(base_labels[nb.slot]);
      if (nb.slot != self) ranked[i].excluding_self.push_back(base_labels[nb.slot]);
    }
  }
  return ranked;
}

}  // namespace latentsearch::eval

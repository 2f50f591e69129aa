#include "services/trainer/knn_eval.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/index/exact.h"

namespace latentsearch::trainer {

absl::StatusOr<double> PrecisionAtK(index::Metric metric, absl::Span<const float> base,
                                    absl::Span<const int32_t> base_labels,
                                    absl::Span<const float> queries,
                                    absl::Span<const int32_t> query_labels, size_t dim,
                                    bool queries_are_base, const PrecisionOptions& options) {
  const size_t n = base_labels.size(), nq = query_labels.size();
  if (dim == 0 || options.k == 0 || base.size() != n * dim || queries.size() != nq * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("PrecisionAtK: ", base.size(), " base floats for ", n, " labels, ",
                     queries.size(), " query floats for ", nq, " labels, dim ", dim, ", k ",
                     options.k, " (need n x dim and nq x dim floats, dim >= 1, k >= 1)"));
  }
  const size_t candidates = queries_are_base ? n - (n > 0 ? 1 : 0) : n;
  if (candidates < options.k || nq == 0) {
    return absl::InvalidArgumentError(absl::StrCat("PrecisionAtK: ", candidates,
                                                   " candidate rows for k = ", options.k, " and ",
                                                   nq, " queries"));
  }
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
  if (absl::Status s = index::ExactSearch(metric, bp, n, dim, qp, nq, so, &results); !s.ok()) {
    return s;
  }
  double sum = 0;
  for (size_t i = 0; i < nq; ++i) {
    size_t taken = 0, same = 0;
    for (const index::Neighbor& nb : results[i]) {
      if (queries_are_base && nb.slot == i) continue;
      if (taken == options.k) break;
      ++taken;
      same += base_labels[nb.slot] == query_labels[i] ? 1 : 0;
    }
    sum += static_cast<double>(same) / static_cast<double>(options.k);
  }
  return sum / static_cast<double>(nq);
}

}  // namespace latentsearch::trainer

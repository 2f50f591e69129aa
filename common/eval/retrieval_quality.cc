#include "common/eval/retrieval_quality.h"

#include <algorithm>

namespace latentsearch::eval {

double PrecisionAtK(absl::Span<const int32_t> ranked_labels, int32_t label, int k) {
  if (k <= 0) return 0;
  int hits = 0;
  for (int i = 0; i < k && i < static_cast<int>(ranked_labels.size()); ++i) {
    if (ranked_labels[i] == label) ++hits;
  }
  return static_cast<double>(hits) / k;
}

double AveragePrecision(absl::Span<const int32_t> ranked_labels, int32_t label, int depth,
                        uint64_t relevant) {
  if (relevant == 0 || depth <= 0) return 0;
  double sum = 0;
  int hits = 0;
  for (int i = 0; i < depth && i < static_cast<int>(ranked_labels.size()); ++i) {
    if (ranked_labels[i] == label) {
      ++hits;
      sum += static_cast<double>(hits) / (i + 1);
    }
  }
  return sum / static_cast<double>(std::min<uint64_t>(relevant, depth));
}

double RecallAtK(absl::Span<const std::string> approximate, absl::Span<const std::string> exact,
                 int k) {
  if (k <= 0) return 0;
  int hit = 0;
  for (const std::string& id : approximate) {
    if (std::find(exact.begin(), exact.end(), id) != exact.end()) ++hit;
  }
  return static_cast<double>(hit) / k;
}

void QualityAccumulator::Add(absl::Span<const int32_t> excluding_self,
                             absl::Span<const int32_t> including_self, int32_t label, int k,
                             int depth, uint64_t relevant) {
  precision_sum += PrecisionAtK(excluding_self, label, k);
  precision_including_self_sum += PrecisionAtK(including_self, label, k);
  ap_sum += AveragePrecision(excluding_self, label, depth, relevant);
  ++queries;
}

double MeanRecallAtK(const std::vector<std::vector<std::string>>& approximate,
                     const std::vector<std::vector<std::string>>& exact, int k) {
  if (approximate.empty()) return 0;
  double sum = 0;
  for (size_t q = 0; q < approximate.size(); ++q) sum += RecallAtK(approximate[q], exact[q], k);
  return sum / static_cast<double>(approximate.size());
}

}  // namespace latentsearch::eval

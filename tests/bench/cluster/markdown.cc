// Markdown tables and numbers (markdown.h).
// Thread-safety: pure.
#include "tests/bench/cluster/markdown.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace latentsearch::bench {

std::string Table::ToString() const {
  std::string out = "| " + absl::StrJoin(header_, " | ") + " |\n|";
  for (size_t i = 0; i < header_.size(); ++i) out += "---|";
  out += "\n";
  for (const std::vector<std::string>& row : rows_) {
    out += "| " + absl::StrJoin(row, " | ") + " |\n";
  }
  return out;
}

std::string Num(double value, int decimals) {
  if (!std::isfinite(value)) return "n/a";
  std::string s = absl::StrFormat("%.*f", decimals, std::fabs(value));
  size_t point = s.find('.');
  if (point == std::string::npos) point = s.size();
  for (size_t at = point; at > 3; at -= 3) s.insert(at - 3, ",");
  return value < 0 && s.find_first_not_of("0.,") != std::string::npos ? "-" + s : s;
}

}  // namespace latentsearch::bench

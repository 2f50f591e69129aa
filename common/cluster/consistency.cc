// Write consistency levels (consistency.h).
// Thread-safety: pure functions.
#include "common/cluster/consistency.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace latentsearch::cluster {

uint32_t RequiredAcks(v1::ConsistencyLevel level, uint32_t replication_factor) {
  const uint32_t rf = std::max<uint32_t>(1, replication_factor);
  switch (level) {
    case v1::CONSISTENCY_LEVEL_ONE:
      return 1;
    case v1::CONSISTENCY_LEVEL_ALL:
      return rf;
    case v1::CONSISTENCY_LEVEL_QUORUM:
    default:
      return rf / 2 + 1;
  }
}

absl::StatusOr<v1::ConsistencyLevel> ParseConsistencyLevel(std::string_view text) {
  const std::string word = absl::AsciiStrToLower(absl::string_view(text.data(), text.size()));
  if (word.empty()) return v1::CONSISTENCY_LEVEL_UNSPECIFIED;
  if (word == "one") return v1::CONSISTENCY_LEVEL_ONE;
  if (word == "quorum") return v1::CONSISTENCY_LEVEL_QUORUM;
  if (word == "all") return v1::CONSISTENCY_LEVEL_ALL;
  return absl::InvalidArgumentError(
      absl::StrCat("consistency level '", std::string(text.substr(0, 64)),
                   "' is not one of: one, quorum, all (empty = the collection's default)"));
}

std::string ConsistencyLevelName(v1::ConsistencyLevel level) {
  switch (level) {
    case v1::CONSISTENCY_LEVEL_ONE:
      return "one";
    case v1::CONSISTENCY_LEVEL_QUORUM:
      return "quorum";
    case v1::CONSISTENCY_LEVEL_ALL:
      return "all";
    default:
      return "default";
  }
}

}  // namespace latentsearch::cluster

#include "common/items/item_uri.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace latentsearch::items {

std::string DatasetUri(data::DatasetKind kind, data::Split split, size_t index,
                       const std::string& dir) {
  return absl::StrCat(data::DatasetKindName(kind), ":", data::SplitName(split), ":", index, ":",
                      dir);
}

absl::StatusOr<ItemUri> ParseItemUri(const std::string& uri) {
  ItemUri p;
  if (absl::StartsWith(uri, "file:")) {
    p.file = true;
    p.path = uri.substr(5);
    return p;
  }
  std::vector<std::string> parts = absl::StrSplit(uri, absl::MaxSplits(':', 3));
  uint64_t index = 0;
  if (parts.size() == 4 && absl::SimpleAtoi(parts[2], &index)) {
    absl::StatusOr<data::DatasetKind> kind = data::ParseDatasetKind(parts[0]);
    absl::StatusOr<data::Split> split = data::ParseSplit(parts[1]);
    if (kind.ok() && split.ok() && *kind != data::DatasetKind::kFolder) {
      p.kind = *kind;
      p.split = *split;
      p.index = index;
      p.path = parts[3];
      p.split_key = absl::StrCat(parts[0], ":", parts[1], ":", parts[3]);
      return p;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("item uri '", uri,
                   "' names no image; expected file:PATH or KIND:SPLIT:INDEX:DIR "
                   "(as written by latentsearch ingest)"));
}

}  // namespace latentsearch::items

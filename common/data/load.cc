#include "common/data/load.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace latentsearch::data {

absl::string_view DatasetKindName(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kCifar10:
      return "cifar10";
    case DatasetKind::kIdx:
      return "idx";
    case DatasetKind::kFolder:
      return "folder";
  }
  return "unknown";
}

absl::StatusOr<DatasetKind> ParseDatasetKind(absl::string_view name) {
  if (name == "cifar10") return DatasetKind::kCifar10;
  if (name == "idx") return DatasetKind::kIdx;
  if (name == "folder") return DatasetKind::kFolder;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown data set kind '", name, "'; expected cifar10, idx or folder"));
}

absl::StatusOr<Dataset> LoadDataset(const DatasetSpec& spec) {
  absl::StatusOr<Dataset> d;
  switch (spec.kind) {
    case DatasetKind::kCifar10:
      d = ReadCifar10(spec.path, spec.split, spec.cifar10);
      break;
    case DatasetKind::kIdx:
      d = ReadIdxDir(spec.path, spec.split, spec.idx);
      break;
    case DatasetKind::kFolder:
      if (spec.split != Split::kAll) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a folder data set has no ", SplitName(spec.split), " split; expected split 'all'"));
      }
      d = ReadImageFolder(spec.path, spec.folder);
      break;
  }
  if (!d.ok()) return d.status();
  if (absl::Status s = Validate(*d); !s.ok()) {
    return absl::InternalError(absl::StrCat("reader produced an invalid data set: ", s.message()));
  }
  return d;
}

}  // namespace latentsearch::data

// One entry point for "load the data set the user named": the CLI's
// --dataset/--path/--split flags and, later, the trainer's requests map onto
// a DatasetSpec.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_DATA_LOAD_H_
#define LATENTSEARCH_COMMON_DATA_LOAD_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/data/cifar10.h"
#include "common/data/dataset.h"
#include "common/data/idx.h"
#include "common/data/image_folder.h"

namespace latentsearch::data {

enum class DatasetKind {
  kCifar10,  // CIFAR-10 binary directory (cifar10.h).
  kIdx,      // MNIST / Fashion-MNIST IDX directory (idx.h).
  kFolder,   // Folder of PNG/JPEG files (image_folder.h).
};

// "cifar10", "idx" or "folder".
absl::string_view DatasetKindName(DatasetKind kind);
// Inverse of DatasetKindName(); INVALID_ARGUMENT naming the allowed values.
absl::StatusOr<DatasetKind> ParseDatasetKind(absl::string_view name);

// Which data set to load and how. A value type.
struct DatasetSpec {
  DatasetKind kind = DatasetKind::kCifar10;
  // The data set's directory.
  std::string path;
  // Split to read. A folder has no split: only kAll is accepted for it.
  Split split = Split::kAll;
  // Options of the reader for `kind`; the others are ignored.
  Cifar10Options cifar10;
  IdxOptions idx;
  ImageFolderOptions folder;
};

// Reads the data set `spec` names, then Validate()s it (a reader bug would
// show up as INTERNAL). Errors are the reader's; INVALID_ARGUMENT for a split
// other than kAll on a folder.
absl::StatusOr<Dataset> LoadDataset(const DatasetSpec& spec);

}  // namespace latentsearch::data

#endif  // LATENTSEARCH_COMMON_DATA_LOAD_H_

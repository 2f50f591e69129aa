#include "clients/cli/dataset_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"

ABSL_FLAG(std::string, dataset, "",
          "Kind of data set: cifar10 (CIFAR-10 binary directory), idx "
          "(MNIST/Fashion-MNIST IDX directory, .gz or plain) or folder (PNG/JPEG "
          "files, one sub-folder per class).");
ABSL_FLAG(std::string, path, "", "Directory of the data set.");
ABSL_FLAG(std::string, split, "all",
          "train, test or all (train then test). Folders have only 'all'.");
ABSL_FLAG(int, image_height, 32, "folder: height every image is resized to.");
ABSL_FLAG(int, image_width, 32, "folder: width every image is resized to.");
ABSL_FLAG(int, image_channels, 3, "folder: 1 (grey) or 3 (RGB).");
ABSL_FLAG(bool, labelled, true,
          "folder: one sub-folder per class; --nolabelled reads a flat folder "
          "of unlabelled images.");
ABSL_FLAG(bool, verify_checksums, false,
          "cifar10: check the files against MD5SUMS (when present) first.");

namespace latentsearch::cli {

std::vector<std::string> DatasetFlagNames() {
  return {"dataset",     "path",           "split",    "image_height",
          "image_width", "image_channels", "labelled", "verify_checksums"};
}

absl::StatusOr<data::DatasetSpec> DatasetSpecFromFlags() {
  data::DatasetSpec spec;
  const std::string kind = absl::GetFlag(FLAGS_dataset);
  if (kind.empty()) {
    return absl::InvalidArgumentError("--dataset is required: cifar10, idx or folder");
  }
  LS_ASSIGN_OR_RETURN(spec.kind, data::ParseDatasetKind(kind));
  spec.path = absl::GetFlag(FLAGS_path);
  if (spec.path.empty()) {
    return absl::InvalidArgumentError("--path is required: the data set's directory");
  }
  LS_ASSIGN_OR_RETURN(spec.split, data::ParseSplit(absl::GetFlag(FLAGS_split)));
  spec.folder.height = absl::GetFlag(FLAGS_image_height);
  spec.folder.width = absl::GetFlag(FLAGS_image_width);
  spec.folder.channels = absl::GetFlag(FLAGS_image_channels);
  spec.folder.labelled = absl::GetFlag(FLAGS_labelled);
  spec.cifar10.verify_checksums = absl::GetFlag(FLAGS_verify_checksums);
  return spec;
}

}  // namespace latentsearch::cli

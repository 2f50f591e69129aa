// Reader for a folder of PNG/JPEG files, e.g. a user's own collection.
//
// Labelled (the default): one sub-folder per class, holding that class's
// images. Class names are the sub-folder names sorted byte-wise; a label is
// its class's index. Unlabelled: the image files lie directly in the folder;
// every label is kNoLabel and class_names is empty.
//
// Files are taken in sorted order (deterministic across runs and machines);
// names starting with '.' and files whose extension is not .png, .jpg or
// .jpeg (any case) are skipped, as are sub-folders of class folders. Every
// image is decoded to `channels` and resized (stretched, aspect not kept) to
// height × width; uris hold the file paths. Decoding runs on a few threads.
//
// Errors: a missing folder is NOT_FOUND, a path that is not a folder
// FAILED_PRECONDITION; a folder (or class sub-folder) without images is
// NOT_FOUND naming it; an undecodable image file is DATA_LOSS naming the
// file and what was wrong; bad options are INVALID_ARGUMENT.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_DATA_IMAGE_FOLDER_H_
#define LATENTSEARCH_COMMON_DATA_IMAGE_FOLDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace latentsearch::data {

// How ReadImageFolder reads. A value type.
struct ImageFolderOptions {
  // Size every image is resized to; 1..4096 each. Default 32 × 32 (CIFAR-10).
  int height = 32;
  int width = 32;
  // 1 (grey) or 3 (RGB); images are converted. Default 3.
  int channels = 3;
  // true: one sub-folder per class. false: a flat folder, unlabelled.
  bool labelled = true;
  // Decoding threads; 0 = the hardware concurrency.
  int num_threads = 0;
};

absl::StatusOr<Dataset> ReadImageFolder(const std::string& dir,
                                        const ImageFolderOptions& options = {});

}  // namespace latentsearch::data

#endif  // LATENTSEARCH_COMMON_DATA_IMAGE_FOLDER_H_

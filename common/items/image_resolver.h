// Finds the image behind an item uri (item_uri.h): loads each data set
// split once and keeps it; reads and decodes files. Used by the CLI's
// query, eval and report, and by the eval driver (common/eval).
// Thread-safety: ImageResolver is thread-compatible (one thread at a time);
// ReadImageFile is thread-safe.
#ifndef LATENTSEARCH_COMMON_ITEMS_IMAGE_RESOLVER_H_
#define LATENTSEARCH_COMMON_ITEMS_IMAGE_RESOLVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/image/image.h"

namespace latentsearch::items {

class ImageResolver {
 public:
  // The image of `uri` (as stored, not resized). INVALID_ARGUMENT for a uri
  // in neither form; the reader's errors otherwise.
  absl::StatusOr<image::Image> Resolve(const std::string& uri);
  // The class names of the data set behind `uri` (empty for files and
  // unlabelled sets). Loads it if needed.
  absl::StatusOr<std::vector<std::string>> ClassNames(const std::string& uri);
  // The data set split behind a data set uri (loaded once); NOT_FOUND for a
  // file uri.
  absl::StatusOr<const data::Dataset*> DatasetOf(const std::string& uri);

 private:
  std::map<std::string, std::unique_ptr<data::Dataset>> loaded_;
};

// Reads and decodes an image file; DATA_LOSS naming the file when it does
// not decode, the reader's NOT_FOUND / PERMISSION_DENIED otherwise.
absl::StatusOr<image::Image> ReadImageFile(const std::string& path);

}  // namespace latentsearch::items

#endif  // LATENTSEARCH_COMMON_ITEMS_IMAGE_RESOLVER_H_

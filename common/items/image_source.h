// Where images to index come from: a data set split, a labelled folder of
// class sub-folders, or loose image files, as parallel vectors of items
// (id, label, uri; item_uri.h) plus a way to get item i's image as the
// encoder takes it (v1::Image). Used by `latentsearch ingest`.
// Thread-safety: the free functions are thread-safe; ImageSource::image may
// be called from several threads at once.
#ifndef LATENTSEARCH_COMMON_ITEMS_IMAGE_SOURCE_H_
#define LATENTSEARCH_COMMON_ITEMS_IMAGE_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/load.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::items {

// Items to encode and index: parallel vectors of n entries, plus a way to
// get item i's image as the encoder takes it.
struct ImageSource {
  std::vector<std::string> ids;
  std::vector<int32_t> labels;  // data::kNoLabel when unlabelled
  std::vector<std::string> uris;
  // Class names in label order ("" / empty when unlabelled).
  std::vector<std::string> class_names;
  // Item i as a v1::Image (raw pixels for data sets, the file's bytes for
  // files). Thread-safe: called from several threads at once.
  std::function<absl::StatusOr<v1::Image>(size_t i)> image;
  // Keeps the data the `image` callback reads.
  std::shared_ptr<const void> keep_alive;

  size_t size() const { return ids.size(); }
};

// The labelled data set `spec` names (cifar10 or idx; split train, test or
// all = both, ids "train-i" / "test-i"). Folders (spec.kind == kFolder) are
// read as files: ids are paths relative to spec.path, labels the
// sub-folder's class when spec.folder.labelled, uris "file:<abs path>".
absl::StatusOr<ImageSource> LoadImageSource(const data::DatasetSpec& spec);

// Every PNG/JPEG file under `dir` (recursively, sorted), unlabelled; or a
// single file. NOT_FOUND when there is none.
absl::StatusOr<ImageSource> FilesSource(const std::string& path);

}  // namespace latentsearch::items

#endif  // LATENTSEARCH_COMMON_ITEMS_IMAGE_SOURCE_H_

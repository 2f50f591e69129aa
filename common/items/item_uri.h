// The uris that tie a collection item to its image (Item.uri in
// search.proto), as `latentsearch ingest` writes them:
//   <kind>:<split>:<index>:<dir>   an image of a data set, e.g.
//                                  "idx:test:17:/usr/share/datasets/fashion-mnist"
//                                  (kind cifar10 | idx; index within the split)
//   file:<path>                    an image file (PNG/JPEG), absolute path
// Item ids: "<split>-<index>" for data sets ("test-17"), the path relative
// to the ingested folder for files ("cats/01.png").
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_ITEMS_ITEM_URI_H_
#define LATENTSEARCH_COMMON_ITEMS_ITEM_URI_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/load.h"

namespace latentsearch::items {

// The uri of image `index` of `split` of the data set (kind, dir).
std::string DatasetUri(data::DatasetKind kind, data::Split split, size_t index,
                       const std::string& dir);

// A uri taken apart.
struct ItemUri {
  bool file = false;
  std::string path;  // file path or data set dir
  data::DatasetKind kind = data::DatasetKind::kIdx;
  data::Split split = data::Split::kTest;
  size_t index = 0;
  std::string split_key;  // identifies the split: "<kind>:<split>:<dir>"
};

// INVALID_ARGUMENT naming both forms for a uri in neither.
absl::StatusOr<ItemUri> ParseItemUri(const std::string& uri);

}  // namespace latentsearch::items

#endif  // LATENTSEARCH_COMMON_ITEMS_ITEM_URI_H_

// Where the CLI's images come from, and how an indexed item finds its image
// again. Flag-free: used by ingest, query, eval and report.
//
// Item uris written by `latentsearch ingest` (Item.uri in search.proto):
//   <kind>:<split>:<index>:<dir>   an image of a data set, e.g.
//                                  "idx:test:17:/usr/share/datasets/fashion-mnist"
//                                  (kind cifar10 | idx; index within the split)
//   file:<path>                    an image file (PNG/JPEG), absolute path
// Item ids: "<split>-<index>" for data sets ("test-17"), the path relative
// to the ingested folder for files ("cats/01.png").
//
// Thread-safety: ImageResolver is thread-compatible (one thread at a time);
// the free functions are thread-safe.
#ifndef LATENTSEARCH_CLIENTS_CLI_SOURCES_H_
#define LATENTSEARCH_CLIENTS_CLI_SOURCES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/data/load.h"
#include "common/image/image.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::cli {

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

// The uri of image `index` of `split` of the data set (kind, dir).
std::string DatasetUri(data::DatasetKind kind, data::Split split, size_t index,
                       const std::string& dir);

// Finds the images behind item uris: loads each data set split once and
// keeps it; reads and decodes files.
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

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_SOURCES_H_

// Reader for IDX files, the MNIST / Fashion-MNIST layout: big-endian, an
// images file (magic 0x00000803: unsigned bytes, 3 dimensions N × rows ×
// cols) and a labels file (magic 0x00000801: N unsigned bytes). Files may be
// gzip-compressed (.gz, read through zlib) or plain; the content decides, not
// the name.
//
// Class names, for both entry points, in this order of precedence:
//   1. IdxOptions::class_names when not empty;
//   2. a file classes.txt beside the images file, one name per line;
//   3. the Fashion-MNIST names (T-shirt/top … Ankle boot) when the name of
//      the directory holding the images file contains "fashion" (any case),
//      as Debian's /usr/share/datasets/fashion-mnist does;
//   4. otherwise "0" … "9" (MNIST digits).
// Every label must name one of these classes.
//
// Errors: a missing file is NOT_FOUND; a header declaring more than
// IdxOptions::max_bytes is RESOURCE_EXHAUSTED; a wrong magic number, a header or
// data shorter than declared (the incomplete item and its byte offset are
// named), trailing bytes, corrupt gzip data, a label outside the classes,
// image and label counts that differ, and train/test image sizes that differ
// are DATA_LOSS. Every message names the file. Offsets in .gz files are
// offsets in the decompressed data.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_DATA_IDX_H_
#define LATENTSEARCH_COMMON_DATA_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace latentsearch::data {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

// How the IDX readers read. A value type.
struct IdxOptions {
  // Class names in label order; empty = decide as described above.
  std::vector<std::string> class_names;
  // Threads reading files in parallel; 0 = the hardware concurrency.
  int num_threads = 0;
  // Largest data size one file may declare in its header, in bytes (after
  // decompression); a larger one is RESOURCE_EXHAUSTED before anything is
  // allocated. Default 8 GiB (Fashion-MNIST's largest file is 47 MB).
  uint64_t max_bytes = uint64_t{8} << 30;
};

// T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag,
// Ankle boot.
std::vector<std::string> FashionMnistClassNames();

// Reads one images file and its labels file into an N × rows × cols × 1
// Dataset.
absl::StatusOr<Dataset> ReadIdx(const std::string& images_path, const std::string& labels_path,
                                const IdxOptions& options = {});

// Reads `split` from a directory holding train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte,
// each optionally with a .gz suffix (the plain name wins when both exist;
// "train-images.idx3-ubyte" spellings are accepted too). kAll is the training
// images followed by the test images.
absl::StatusOr<Dataset> ReadIdxDir(const std::string& dir, Split split,
                                   const IdxOptions& options = {});

}  // namespace latentsearch::data

#endif  // LATENTSEARCH_COMMON_DATA_IDX_H_

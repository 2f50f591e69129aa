// The in-memory data set every reader produces and every consumer (trainer,
// CLI, ingest) takes: N images of one shape as uint8 HWC, with labels.
//
// Status codes: Validate() and the helpers here judge a Dataset handed to
// them, so a malformed one is INVALID_ARGUMENT. Readers (cifar10.h, idx.h,
// image_folder.h) report files: missing → NOT_FOUND, corrupt or inconsistent
// content → DATA_LOSS, always naming the file and the record or byte offset.
// Thread-safety: every function here is thread-safe (no shared state).
#ifndef LATENTSEARCH_COMMON_DATA_DATASET_H_
#define LATENTSEARCH_COMMON_DATA_DATASET_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/image/image.h"

namespace latentsearch::data {

// Which part of a data set with an official train/test split to read.
// kAll is the training part followed by the test part.
enum class Split { kTrain, kTest, kAll };

// "train", "test" or "all".
absl::string_view SplitName(Split split);
// Inverse of SplitName(); INVALID_ARGUMENT naming the allowed values.
absl::StatusOr<Split> ParseSplit(absl::string_view name);

// Label of an image that belongs to no class (a user's own unlabelled folder).
inline constexpr int32_t kNoLabel = -1;

// N images of height × width × channels bytes each.
// Invariants (checked by Validate()): N ≥ 1; height, width ≥ 1; channels ∈
// {1, 3}; pixels.size() = N × height × width × channels; labels.size() = N;
// either every label is in [0, class_names.size()) or class_names is empty
// and every label is kNoLabel; uris is empty or has N entries.
// Thread-safety: a value type; const access from many threads is safe.
struct Dataset {
  // Where the images came from, for humans: e.g. "cifar10:/data/cifar10 [all]".
  std::string source;
  int height = 0;
  int width = 0;
  int channels = 0;
  // N × height × width × channels bytes: image after image, each HWC row-major.
  std::vector<uint8_t> pixels;
  // N labels; label i names class_names[i], or kNoLabel.
  std::vector<int32_t> labels;
  // Class names in label order; empty for an unlabelled data set.
  std::vector<std::string> class_names;
  // Empty, or N strings saying where each image came from (a file path).
  std::vector<std::string> uris;

  size_t size() const { return labels.size(); }
  // height × width × channels.
  size_t image_bytes() const { return static_cast<size_t>(height) * width * channels; }
  // The image_bytes() bytes of image i (HWC); no bounds checks.
  const uint8_t* image_data(size_t i) const { return pixels.data() + i * image_bytes(); }
  // Image i as an image::Image (a copy); OUT_OF_RANGE when i ≥ size().
  absl::StatusOr<image::Image> GetImage(size_t i) const;
};

// OK when `dataset` meets the invariants above; INVALID_ARGUMENT naming the
// data set's source, the first violation, and what is allowed.
absl::Status Validate(const Dataset& dataset);

// Number of images per class: class_names.size() counts (empty when the data
// set is unlabelled). Labels outside the classes are not counted.
std::vector<size_t> ClassCounts(const Dataset& dataset);

// Memory layout of normalised float images.
enum class Layout {
  kNHWC,  // N × H × W × C, as stored.
  kNCHW,  // N × C × H × W, as convolution libraries expect.
};

// All images as float32 in [0, 1] (byte / 255) in `layout`: N × H × W × C or
// N × C × H × W floats. Validates the data set first (INVALID_ARGUMENT) and
// checks the scaled values (INTERNAL if any falls outside [0, 1]).
absl::StatusOr<std::vector<float>> Normalize(const Dataset& dataset, Layout layout = Layout::kNHWC);

// Images [first, first + count) scaled as Normalize() does into `out`, which
// must hold exactly count × H × W × C floats (in `layout`). Checks only the
// shapes involved (O(1)), so a training loop can call it once per batch after
// validating the data set once. INVALID_ARGUMENT for a range outside the data
// set or a wrongly sized `out`.
absl::Status NormalizeRange(const Dataset& dataset, size_t first, size_t count, Layout layout,
                            absl::Span<float> out);

// `k` distinct indices in [0, n), drawn by a partial Fisher–Yates shuffle
// from a 64-bit Mersenne Twister seeded with `seed`: the same on every
// platform. Returns min(k, n) indices.
std::vector<size_t> SampleIndices(size_t n, size_t k, uint64_t seed);

}  // namespace latentsearch::data

#endif  // LATENTSEARCH_COMMON_DATA_DATASET_H_

#include "common/data/dataset.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace latentsearch::data {
namespace {

absl::Status Invalid(const Dataset& d, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("dataset '", d.source, "': ", what));
}

}  // namespace

absl::string_view SplitName(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kTest:
      return "test";
    case Split::kAll:
      return "all";
  }
  return "unknown";
}

absl::StatusOr<Split> ParseSplit(absl::string_view name) {
  if (name == "train") return Split::kTrain;
  if (name == "test") return Split::kTest;
  if (name == "all") return Split::kAll;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown split '", name, "'; expected train, test or all"));
}

absl::StatusOr<image::Image> Dataset::GetImage(size_t i) const {
  if (i >= size()) {
    return absl::OutOfRangeError(absl::StrCat("dataset '", source, "': image ", i,
                                              " requested; it has ", size(), " images"));
  }
  if (pixels.size() < (i + 1) * image_bytes()) {
    return Invalid(*this,
                   absl::StrCat("pixels hold ", pixels.size(), " bytes, too few for image ", i));
  }
  image::Image img;
  img.height = height;
  img.width = width;
  img.channels = channels;
  img.pixels.assign(image_data(i), image_data(i) + image_bytes());
  return img;
}

absl::Status Validate(const Dataset& d) {
  if (d.labels.empty()) {
    return Invalid(d, "holds no images; expected at least 1");
  }
  if (d.height < 1 || d.width < 1) {
    return Invalid(d, absl::StrCat("image size ", d.height, "x", d.width,
                                   " is empty; expected height, width >= 1"));
  }
  if (d.channels != 1 && d.channels != 3) {
    return Invalid(
        d, absl::StrCat("images have ", d.channels, " channels; expected 1 (grey) or 3 (RGB)"));
  }
  const size_t n = d.size();
  if (d.pixels.size() / d.image_bytes() != n || d.pixels.size() % d.image_bytes() != 0) {
    return Invalid(d, absl::StrCat("pixels hold ", d.pixels.size(),
                                   " bytes; expected N x H x W x C = ", n, " x ", d.height, " x ",
                                   d.width, " x ", d.channels, " = ", n * d.image_bytes()));
  }
  if (!d.uris.empty() && d.uris.size() != n) {
    return Invalid(d, absl::StrCat("has ", d.uris.size(), " uris for ", n,
                                   " images; expected none or one per image"));
  }
  const int64_t num_classes = static_cast<int64_t>(d.class_names.size());
  for (size_t i = 0; i < n; ++i) {
    const int32_t label = d.labels[i];
    if (num_classes == 0) {
      if (label != kNoLabel) {
        return Invalid(d, absl::StrCat("image ", i, " has label ", label,
                                       " but the data set has no classes; "
                                       "expected ",
                                       kNoLabel, " (unlabelled)"));
      }
    } else if (label < 0 || label >= num_classes) {
      return Invalid(d, absl::StrCat("image ", i, " has label ", label,
                                     "; expected a class in [0, ", num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

std::vector<size_t> ClassCounts(const Dataset& d) {
  std::vector<size_t> counts(d.class_names.size(), 0);
  for (int32_t label : d.labels) {
    if (label >= 0 && static_cast<size_t>(label) < counts.size()) ++counts[label];
  }
  return counts;
}

absl::Status NormalizeRange(const Dataset& d, size_t first, size_t count, Layout layout,
                            absl::Span<float> out) {
  const size_t per_image = d.image_bytes();
  if (per_image == 0 || d.pixels.size() % per_image != 0) {
    return Invalid(
        d, absl::StrCat("pixels hold ", d.pixels.size(), " bytes, not a whole number of ", d.height,
                        "x", d.width, "x", d.channels, " images"));
  }
  const size_t n = d.pixels.size() / per_image;
  if (first > n || count > n - first) {
    return Invalid(d, absl::StrCat("images [", first, ", ", first + count,
                                   ") requested; expected a range within [0, ", n, ")"));
  }
  if (out.size() != count * per_image) {
    return Invalid(d, absl::StrCat("output holds ", out.size(),
                                   " floats; expected count x H x W x C = ", count * per_image));
  }
  constexpr float kScale = 1.0f / 255.0f;
  const uint8_t* in = d.pixels.data() + first * per_image;
  float* o = out.data();
  if (layout == Layout::kNHWC || d.channels == 1) {
    const size_t total = count * per_image;
    for (size_t i = 0; i < total; ++i) o[i] = static_cast<float>(in[i]) * kScale;
    return absl::OkStatus();
  }
  const size_t plane = static_cast<size_t>(d.height) * d.width;
  const int c = d.channels;
  for (size_t img = 0; img < count; ++img) {
    const uint8_t* src = in + img * per_image;
    float* dst = o + img * per_image;
    for (int ch = 0; ch < c; ++ch) {
      float* dp = dst + ch * plane;
      for (size_t p = 0; p < plane; ++p) {
        dp[p] = static_cast<float>(src[p * c + ch]) * kScale;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> Normalize(const Dataset& d, Layout layout) {
  if (absl::Status s = Validate(d); !s.ok()) return s;
  std::vector<float> out(d.pixels.size());
  if (absl::Status s = NormalizeRange(d, 0, d.size(), layout, absl::MakeSpan(out)); !s.ok()) {
    return s;
  }
  // byte / 255 cannot leave [0, 1]; the check guards the scaling code itself.
  auto [lo, hi] = std::minmax_element(out.begin(), out.end());
  if (!(*lo >= 0.0f) || !(*hi <= 1.0f)) {
    return absl::InternalError(absl::StrCat("dataset '", d.source, "': normalised values span [",
                                            *lo, ", ", *hi, "]; expected [0, 1]"));
  }
  return out;
}

std::vector<size_t> SampleIndices(size_t n, size_t k, uint64_t seed) {
  k = std::min(k, n);
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < k; ++i) {
    const size_t j = i + static_cast<size_t>(rng() % (n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(k);
  return idx;
}

}  // namespace latentsearch::data

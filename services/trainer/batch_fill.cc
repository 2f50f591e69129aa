#include "services/trainer/batch_fill.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "absl/types/span.h"
#include "common/base/status_macros.h"

namespace latentsearch::trainer {

absl::Status Gather(const data::Dataset& d, const std::vector<size_t>& indices, size_t first,
                    size_t n, std::vector<float>* out, std::mt19937_64* flip_rng) {
  const size_t per = d.image_bytes();
  const size_t w = d.width;
  for (size_t i = 0; i < n; ++i) {
    absl::Span<float> dst(out->data() + i * per, per);
    LS_RETURN_IF_ERROR(data::NormalizeRange(d, indices[first + i], 1, data::Layout::kNCHW, dst));
    if (flip_rng != nullptr && ((*flip_rng)() & 1)) {
      for (size_t row = 0; row < per / w; ++row) {
        std::reverse(dst.begin() + row * w, dst.begin() + (row + 1) * w);
      }
    }
  }
  return absl::OkStatus();
}

// One image per task on LibTorch's intra-op pool.
void MakeViews(const data::Dataset& d, const std::vector<size_t>& indices, size_t first, size_t n,
               const AugmentOptions& views, uint64_t seed, uint64_t salt, float* out1,
               float* out2) {
  const int h = d.height, w = d.width, c = d.channels;
  const size_t per = d.image_bytes();
  at::parallel_for(0, static_cast<int64_t>(n), 8, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> view(per);
    for (int64_t i = begin; i < end; ++i) {
      const size_t index = indices[first + i];
      const uint8_t* src = d.image_data(index);
      AugmentView(src, h, w, c, views, MixSeed(seed, salt + 2 * index), view.data());
      ToFloatChw(view.data(), h, w, c, out1 + i * per);
      AugmentView(src, h, w, c, views, MixSeed(seed, salt + 2 * index + 1), view.data());
      ToFloatChw(view.data(), h, w, c, out2 + i * per);
    }
  });
}

// The flips are drawn first, in batch order; then one image per task.
void MakeCorrupted(const data::Dataset& d, const std::vector<size_t>& indices, size_t first,
                   size_t n, const CorruptOptions& corruption, uint64_t seed, uint64_t salt,
                   std::mt19937_64* flip_rng, float* clean, float* noisy) {
  const int h = d.height, w = d.width, c = d.channels;
  const size_t per = d.image_bytes();
  std::vector<char> flips(n, 0);
  if (flip_rng != nullptr) {
    for (size_t i = 0; i < n; ++i) flips[i] = ((*flip_rng)() & 1) ? 1 : 0;
  }
  at::parallel_for(0, static_cast<int64_t>(n), 8, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> img(per), bad(per);
    for (int64_t i = begin; i < end; ++i) {
      const size_t index = indices[first + i];
      std::copy(d.image_data(index), d.image_data(index) + per, img.begin());
      if (flips[i]) FlipHorizontal(img.data(), h, w, c);
      Corrupt(img.data(), h, w, c, corruption, MixSeed(seed, salt + index), bad.data());
      ToFloatChw(img.data(), h, w, c, clean + i * per);
      ToFloatChw(bad.data(), h, w, c, noisy + i * per);
    }
  });
}

}  // namespace latentsearch::trainer

// ProbeImages (probe_images.h).
#include "services/encoder/probe_images.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/types/span.h"

namespace latentsearch::encoder {
namespace {

// One image's uint8 HWC pixels.
void DrawImage(const image::InputSpec& spec, std::mt19937_64& rng, std::vector<uint8_t>* hwc) {
  const int h = spec.height, w = spec.width, c = spec.channels;
  std::uniform_real_distribution<double> u(0, 1);
  double from[3], to[3];
  for (int k = 0; k < 3; ++k) {
    from[k] = u(rng);
    to[k] = u(rng);
  }
  const double angle = 2 * M_PI * u(rng);
  const double dx = std::cos(angle), dy = std::sin(angle);
  std::vector<double> px(static_cast<size_t>(h) * w * c);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double t = 0.5 + 0.5 *
                                 (dx * (x / std::max(1.0, w - 1.0) - 0.5) +
                                  dy * (y / std::max(1.0, h - 1.0) - 0.5)) *
                                 1.4;
      for (int k = 0; k < c; ++k) {
        px[(static_cast<size_t>(y) * w + x) * c + k] = from[k] + (to[k] - from[k]) * t;
      }
    }
  }
  const int shapes = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < shapes; ++s) {
    const double cx = u(rng) * w, cy = u(rng) * h;
    const double rx = (0.1 + 0.3 * u(rng)) * w, ry = (0.1 + 0.3 * u(rng)) * h;
    const bool disc = rng() % 2 == 0;
    double colour[3];
    for (double& v : colour) v = u(rng);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const double ex = (x - cx) / rx, ey = (y - cy) / ry;
        const bool in = disc ? ex * ex + ey * ey <= 1 : std::abs(ex) <= 1 && std::abs(ey) <= 1;
        if (!in) continue;
        for (int k = 0; k < c; ++k) px[(static_cast<size_t>(y) * w + x) * c + k] = colour[k];
      }
    }
  }
  std::normal_distribution<double> noise(0, 0.02);
  hwc->resize(px.size());
  for (size_t i = 0; i < px.size(); ++i) {
    const double v = std::clamp(px[i] + noise(rng), 0.0, 1.0);
    (*hwc)[i] = static_cast<uint8_t>(std::lround(v * 255));
  }
}

}  // namespace

std::vector<float> ProbeImages(const image::InputSpec& spec, size_t n, uint64_t seed) {
  const size_t per = spec.floats_per_image();
  std::vector<float> out(n * per);
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> hwc;
  for (size_t i = 0; i < n; ++i) {
    DrawImage(spec, rng, &hwc);
    image::Normalize(hwc, spec, absl::MakeSpan(out.data() + i * per, per));
  }
  return out;
}

}  // namespace latentsearch::encoder

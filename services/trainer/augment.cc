#include "services/trainer/augment.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace latentsearch::trainer {
namespace {

inline uint8_t Clamp255(float v) {
  // Round half up; v may be far outside [0, 255].
  v = std::min(255.0f, std::max(0.0f, v));
  return static_cast<uint8_t>(v + 0.5f);
}

double Uniform(std::mt19937_64& rng, double lo, double hi) {
  // 53 random bits → [0, 1): the same on every platform (unlike
  // std::uniform_real_distribution, whose algorithm is unspecified).
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return lo + (hi - lo) * u;
}

bool Bernoulli(std::mt19937_64& rng, double p) { return Uniform(rng, 0, 1) < p; }

// Box–Muller, platform-independent.
double Gaussian(std::mt19937_64& rng) {
  const double u1 = 1.0 - Uniform(rng, 0, 1);  // (0, 1].
  const double u2 = Uniform(rng, 0, 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// Luma of one pixel (c = 3) or the value (c = 1), as a float.
inline float Grey(const uint8_t* px, int c) {
  return c == 3 ? 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2] : px[0];
}

}  // namespace

uint64_t MixSeed(uint64_t seed, uint64_t salt) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (salt + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

AugmentOptions AugmentOptions::Identity() {
  AugmentOptions o;
  o.min_scale = o.max_scale = 1.0;
  o.min_ratio = o.max_ratio = 1.0;
  o.flip_probability = 0;
  o.jitter_probability = 0;
  o.grayscale_probability = 0;
  return o;
}

CropBox SampleCropBox(int h, int w, const AugmentOptions& o, std::mt19937_64& rng) {
  const double area = static_cast<double>(h) * w;
  const double log_lo = std::log(o.min_ratio), log_hi = std::log(o.max_ratio);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * Uniform(rng, o.min_scale, o.max_scale);
    const double ratio = std::exp(Uniform(rng, log_lo, log_hi));
    const double cw = std::sqrt(target * ratio);
    const double ch = std::sqrt(target / ratio);
    if (cw <= w && ch <= h && cw >= 1 && ch >= 1) {
      // Integer sizes and offsets, as torchvision.
      const int iw = static_cast<int>(std::lround(cw)), ih = static_cast<int>(std::lround(ch));
      if (iw < 1 || ih < 1 || iw > w || ih > h) continue;
      const int y = static_cast<int>(rng() % static_cast<uint64_t>(h - ih + 1));
      const int x = static_cast<int>(rng() % static_cast<uint64_t>(w - iw + 1));
      return {static_cast<double>(y), static_cast<double>(x), static_cast<double>(ih),
              static_cast<double>(iw)};
    }
  }
  // Fallback: centre crop with the ratio clamped.
  const double in_ratio = static_cast<double>(w) / h;
  double cw = w, ch = h;
  if (in_ratio < o.min_ratio) {
    ch = std::round(w / o.min_ratio);
  } else if (in_ratio > o.max_ratio) {
    cw = std::round(h * o.max_ratio);
  }
  return {std::floor((h - ch) / 2), std::floor((w - cw) / 2), ch, cw};
}

void ResizedCrop(const uint8_t* src, int sh, int sw, int c, const CropBox& box, uint8_t* dst,
                 int dh, int dw) {
  // Output pixel centre (i + 0.5) maps to box.y + (i + 0.5) · box.h / dh − 0.5
  // in source pixel-index coordinates; taps clamped to the image.
  const float sy = static_cast<float>(box.height / dh), sx = static_cast<float>(box.width / dw);
  std::vector<int> x0(dw), x1(dw);
  std::vector<float> fx(dw);
  for (int j = 0; j < dw; ++j) {
    float x = static_cast<float>(box.x) + (j + 0.5f) * sx - 0.5f;
    x = std::min(std::max(x, 0.0f), static_cast<float>(sw - 1));
    x0[j] = static_cast<int>(x);
    x1[j] = std::min(x0[j] + 1, sw - 1);
    fx[j] = x - x0[j];
  }
  for (int i = 0; i < dh; ++i) {
    float y = static_cast<float>(box.y) + (i + 0.5f) * sy - 0.5f;
    y = std::min(std::max(y, 0.0f), static_cast<float>(sh - 1));
    const int y0 = static_cast<int>(y), y1 = std::min(y0 + 1, sh - 1);
    const float fy = y - y0;
    const uint8_t* r0 = src + static_cast<size_t>(y0) * sw * c;
    const uint8_t* r1 = src + static_cast<size_t>(y1) * sw * c;
    uint8_t* out = dst + static_cast<size_t>(i) * dw * c;
    for (int j = 0; j < dw; ++j) {
      const float a = fx[j];
      const uint8_t* p00 = r0 + x0[j] * c;
      const uint8_t* p01 = r0 + x1[j] * c;
      const uint8_t* p10 = r1 + x0[j] * c;
      const uint8_t* p11 = r1 + x1[j] * c;
      for (int ch = 0; ch < c; ++ch) {
        const float top = p00[ch] + a * (p01[ch] - p00[ch]);
        const float bot = p10[ch] + a * (p11[ch] - p10[ch]);
        out[j * c + ch] = Clamp255(top + fy * (bot - top));
      }
    }
  }
}

void FlipHorizontal(uint8_t* img, int h, int w, int c) {
  for (int y = 0; y < h; ++y) {
    uint8_t* row = img + static_cast<size_t>(y) * w * c;
    for (int a = 0, b = w - 1; a < b; ++a, --b) {
      for (int ch = 0; ch < c; ++ch) std::swap(row[a * c + ch], row[b * c + ch]);
    }
  }
}

void AdjustBrightness(uint8_t* img, size_t bytes, double factor) {
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) lut[v] = Clamp255(static_cast<float>(v * factor));
  for (size_t i = 0; i < bytes; ++i) img[i] = lut[img[i]];
}

void AdjustContrast(uint8_t* img, int h, int w, int c, double factor) {
  const size_t pixels = static_cast<size_t>(h) * w;
  double sum = 0;
  for (size_t p = 0; p < pixels; ++p) sum += Grey(img + p * c, c);
  const double mean = sum / static_cast<double>(pixels);
  std::array<uint8_t, 256> lut;
  for (int v = 0; v < 256; ++v) {
    lut[v] = Clamp255(static_cast<float>(mean + (v - mean) * factor));
  }
  for (size_t i = 0; i < pixels * c; ++i) img[i] = lut[img[i]];
}

void AdjustSaturation(uint8_t* img, int h, int w, int c, double factor) {
  if (c != 3) return;
  const float f = static_cast<float>(factor);
  const size_t pixels = static_cast<size_t>(h) * w;
  for (size_t p = 0; p < pixels; ++p) {
    uint8_t* px = img + p * 3;
    const float g = Grey(px, 3);
    for (int ch = 0; ch < 3; ++ch) px[ch] = Clamp255(g + (px[ch] - g) * f);
  }
}

void ToGrayscale(uint8_t* img, int h, int w, int c) {
  if (c != 3) return;
  const size_t pixels = static_cast<size_t>(h) * w;
  for (size_t p = 0; p < pixels; ++p) {
    uint8_t* px = img + p * 3;
    const uint8_t g = Clamp255(Grey(px, 3));
    px[0] = px[1] = px[2] = g;
  }
}

void AugmentView(const uint8_t* src, int h, int w, int c, const AugmentOptions& o, uint64_t seed,
                 uint8_t* dst) {
  std::mt19937_64 rng(seed);
  if (o.min_scale >= 1.0) {
    std::copy(src, src + static_cast<size_t>(h) * w * c, dst);
  } else {
    ResizedCrop(src, h, w, c, SampleCropBox(h, w, o, rng), dst, h, w);
  }
  if (Bernoulli(rng, o.flip_probability)) FlipHorizontal(dst, h, w, c);
  if (Bernoulli(rng, o.jitter_probability)) {
    const double b = Uniform(rng, 1 - o.brightness, 1 + o.brightness);
    const double k = Uniform(rng, 1 - o.contrast, 1 + o.contrast);
    const double s = Uniform(rng, 1 - o.saturation, 1 + o.saturation);
    std::array<int, 3> order = {0, 1, 2};
    for (int i = 2; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
    for (int op : order) {
      if (op == 0 && o.brightness > 0) AdjustBrightness(dst, static_cast<size_t>(h) * w * c, b);
      if (op == 1 && o.contrast > 0) AdjustContrast(dst, h, w, c, k);
      if (op == 2 && o.saturation > 0) AdjustSaturation(dst, h, w, c, s);
    }
  }
  if (Bernoulli(rng, o.grayscale_probability)) ToGrayscale(dst, h, w, c);
}

void Corrupt(const uint8_t* src, int h, int w, int c, const CorruptOptions& o, uint64_t seed,
             uint8_t* dst) {
  std::mt19937_64 rng(seed);
  const size_t bytes = static_cast<size_t>(h) * w * c;
  if (o.noise_std > 0) {
    for (size_t i = 0; i < bytes; ++i) {
      dst[i] = Clamp255(static_cast<float>(src[i] + o.noise_std * Gaussian(rng)));
    }
  } else {
    std::copy(src, src + bytes, dst);
  }
  if (o.patch_size > 0 && o.mask_probability > 0) {
    const int p = o.patch_size;
    for (int y = 0; y < h; y += p) {
      for (int x = 0; x < w; x += p) {
        if (!Bernoulli(rng, o.mask_probability)) continue;
        for (int yy = y; yy < std::min(h, y + p); ++yy) {
          uint8_t* row = dst + (static_cast<size_t>(yy) * w + x) * c;
          std::fill(row, row + static_cast<size_t>(std::min(w, x + p) - x) * c, uint8_t{0});
        }
      }
    }
  }
}

void ToFloatChw(const uint8_t* hwc, int h, int w, int c, float* chw) {
  constexpr float kScale = 1.0f / 255.0f;
  const size_t plane = static_cast<size_t>(h) * w;
  for (int ch = 0; ch < c; ++ch) {
    float* dp = chw + ch * plane;
    for (size_t p = 0; p < plane; ++p) dp[p] = static_cast<float>(hwc[p * c + ch]) * kScale;
  }
}

}  // namespace latentsearch::trainer

// Image augmentations for self-supervised training, on uint8 HWC buffers
// (the data set's own bytes), seeded and deterministic; no LibTorch.
//
//   AugmentOptions opts = AugmentOptions::SimClr();
//   std::vector<uint8_t> view(h * w * c);
//   AugmentView(src, h, w, c, opts, Mix(seed, image, view_index), view.data());
//
// AugmentView applies, in this order: a random resized crop (area fraction
// in [min_scale, max_scale], aspect ratio log-uniform in [min_ratio,
// max_ratio], bilinear resampling back to h × w), a horizontal flip, colour
// jitter (brightness, contrast, saturation, each a factor uniform in
// [1 − s, 1 + s], in a random order; saturation only for 3 channels), and
// grey-scale (3 channels only; ITU-R 601 luma). Corrupt is the denoising
// objective's input: Gaussian pixel noise plus blanked square patches.
//
// Every function takes the random draws from a generator seeded by the
// caller, so one image's views depend only on (seed, image, view), never on
// batch composition or threads.
// Thread-safety: pure functions over caller-owned memory.
#ifndef LATENTSEARCH_SERVICES_TRAINER_AUGMENT_H_
#define LATENTSEARCH_SERVICES_TRAINER_AUGMENT_H_

#include <cstddef>
#include <cstdint>
#include <random>

namespace latentsearch::trainer {

struct AugmentOptions {
  // Random resized crop: area fraction and aspect ratio (width / height).
  // min_scale >= 1 keeps the whole image (no crop, whatever its aspect).
  double min_scale = 0.2, max_scale = 1.0;
  double min_ratio = 3.0 / 4.0, max_ratio = 4.0 / 3.0;
  double flip_probability = 0.5;
  // Colour jitter, applied with jitter_probability; strengths in [0, 1).
  double jitter_probability = 0.8;
  double brightness = 0.4, contrast = 0.4, saturation = 0.4;
  double grayscale_probability = 0.2;

  // SimCLR's CIFAR recipe (without hue jitter and blur): the defaults.
  static AugmentOptions SimClr() { return {}; }
  // Nothing changes the image (for tests and as a reference).
  static AugmentOptions Identity();
};

// A crop window in source pixel coordinates (may be fractional).
struct CropBox {
  double y = 0, x = 0, height = 0, width = 0;
};

// torchvision's RandomResizedCrop sampling: up to 10 tries of (scale,
// log-ratio) that fit inside h × w, else the largest centred crop with the
// ratio clamped to [min_ratio, max_ratio].
CropBox SampleCropBox(int h, int w, const AugmentOptions& options, std::mt19937_64& rng);

// Bilinear resampling of `box` of src (sh × sw × c) to dst (dh × dw × c),
// pixel centres aligned (as OpenCV / torchvision with antialias off).
// A box covering the whole image at the same size copies it exactly.
void ResizedCrop(const uint8_t* src, int sh, int sw, int c, const CropBox& box, uint8_t* dst,
                 int dh, int dw);

// In place on h × w × c bytes.
void FlipHorizontal(uint8_t* img, int h, int w, int c);
// x → clamp(x · factor).
void AdjustBrightness(uint8_t* img, size_t bytes, double factor);
// x → clamp(mean + (x − mean) · factor), mean = the image's mean grey level.
void AdjustContrast(uint8_t* img, int h, int w, int c, double factor);
// x → clamp(grey + (x − grey) · factor) per pixel; no-op for c = 1.
void AdjustSaturation(uint8_t* img, int h, int w, int c, double factor);
// Every channel ← the pixel's luma (0.299 R + 0.587 G + 0.114 B); no-op
// for c = 1.
void ToGrayscale(uint8_t* img, int h, int w, int c);

// One random view of src (h × w × c) into dst (the same size), drawing
// from a generator seeded with `seed`.
void AugmentView(const uint8_t* src, int h, int w, int c, const AugmentOptions& options,
                 uint64_t seed, uint8_t* dst);

struct CorruptOptions {
  // Gaussian noise, standard deviation in pixel units (0..255).
  double noise_std = 25.0;
  // Square patches of patch_size × patch_size pixels on a grid, each
  // blanked (set to 0) with mask_probability.
  int patch_size = 4;
  double mask_probability = 0.25;
};

// src (h × w × c) with noise and masked patches into dst, from a generator
// seeded with `seed`.
void Corrupt(const uint8_t* src, int h, int w, int c, const CorruptOptions& options, uint64_t seed,
             uint8_t* dst);

// h × w × c bytes → c × h × w floats in [0, 1] (byte / 255, exactly as
// data::NormalizeRange).
void ToFloatChw(const uint8_t* hwc, int h, int w, int c, float* chw);

// A 64-bit mix of (seed, salt) (splitmix64), for per-image seeds.
uint64_t MixSeed(uint64_t seed, uint64_t salt);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_AUGMENT_H_

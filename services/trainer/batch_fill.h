// Filling a training batch's float buffers from a data set: plain images
// (optionally flipped), two augmented views per image (contrastive), or
// clean / corrupted pairs (denoising). Every buffer is n × C × H × W floats
// in [0, 1] (NCHW), for images indices[first .. first + n). No LibTorch in
// this header (batch_fill.cc uses LibTorch's intra-op thread pool).
//
// Determinism: each image's randomness comes from MixSeed(seed, salt + its
// index) (views, corruption) or from `flip_rng` drawn in batch order, so a
// batch does not depend on the thread count.
// Thread-safety: the functions are reentrant; `flip_rng` belongs to the
// caller.
#ifndef LATENTSEARCH_SERVICES_TRAINER_BATCH_FILL_H_
#define LATENTSEARCH_SERVICES_TRAINER_BATCH_FILL_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "common/data/dataset.h"
#include "services/trainer/augment.h"

namespace latentsearch::trainer {

// Fills `out` (at least n × C × H × W floats) with the images, each flipped
// horizontally when `flip_rng` (may be nullptr = never) draws an odd number.
absl::Status Gather(const data::Dataset& d, const std::vector<size_t>& indices, size_t first,
                    size_t n, std::vector<float>* out, std::mt19937_64* flip_rng);

// Two AugmentView()s of every image into `out1` and `out2`.
void MakeViews(const data::Dataset& d, const std::vector<size_t>& indices, size_t first, size_t n,
               const AugmentOptions& views, uint64_t seed, uint64_t salt, float* out1, float* out2);

// The clean images (flipped when flip_rng, may be nullptr, draws so) into
// `clean` and their Corrupt()ed copies into `noisy`.
void MakeCorrupted(const data::Dataset& d, const std::vector<size_t>& indices, size_t first,
                   size_t n, const CorruptOptions& corruption, uint64_t seed, uint64_t salt,
                   std::mt19937_64* flip_rng, float* clean, float* noisy);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_BATCH_FILL_H_

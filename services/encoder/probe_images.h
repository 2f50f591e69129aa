// Seeded synthetic images for the encoder's --precision=auto trial and
// warm-up: each a two-colour gradient in a random direction with a few
// random filled rectangles and discs and a little pixel noise, so that
// their embeddings spread out (a set of blank or noise images would give
// near-ties that make neighbour lists fragile in any precision). The
// encoder holds no real images; these stand in for them, the same for
// every version of a model shape (equal seeds give equal images).
// Thread-safety: a pure function.
#ifndef LATENTSEARCH_SERVICES_ENCODER_PROBE_IMAGES_H_
#define LATENTSEARCH_SERVICES_ENCODER_PROBE_IMAGES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/image/preprocess.h"

namespace latentsearch::encoder {

// n images of `spec`, normalised as the model takes them: n × C × H × W
// floats (image::Normalize of uint8 HWC pixels).
std::vector<float> ProbeImages(const image::InputSpec& spec, size_t n, uint64_t seed = 1);

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_PROBE_IMAGES_H_

// Images for tests: seeded random pixels and the v1::Image proto that
// carries an image::Image as raw HWC bytes (what clients send).
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_COMMON_TESTING_TEST_IMAGES_H_
#define LATENTSEARCH_COMMON_TESTING_TEST_IMAGES_H_

#include <cstdint>

#include "common/image/image.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::testing {

// A height × width × channels image of uniformly random bytes, the same for
// the same `seed`.
image::Image RandomImage(int height, int width, int channels, uint64_t seed);

// `img` as a v1::Image with `raw` set (height, width, channels, pixels).
v1::Image RawImageProto(const image::Image& img);

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_COMMON_TESTING_TEST_IMAGES_H_

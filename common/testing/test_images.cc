#include "common/testing/test_images.h"

#include <random>
#include <string>

namespace latentsearch::testing {

image::Image RandomImage(int height, int width, int channels, uint64_t seed) {
  image::Image img(height, width, channels);
  std::mt19937_64 rng(seed);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

v1::Image RawImageProto(const image::Image& img) {
  v1::Image out;
  v1::RawImage* raw = out.mutable_raw();
  raw->set_height(img.height);
  raw->set_width(img.width);
  raw->set_channels(img.channels);
  raw->set_pixels(std::string(img.pixels.begin(), img.pixels.end()));
  return out;
}

}  // namespace latentsearch::testing

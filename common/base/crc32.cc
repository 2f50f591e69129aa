// CRC-32 over zlib (see crc32.h).
#include "common/base/crc32.h"

#include <zlib.h>

#include <algorithm>

namespace latentsearch::base {

uint32_t Crc32Extend(uint32_t crc, const void* data, size_t n) {
  uLong c = crc;
  const Bytef* p = static_cast<const Bytef*>(data);
  // zlib takes uInt lengths; feed in chunks.
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, size_t{1} << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

uint32_t Crc32(const void* data, size_t n) {
  return Crc32Extend(static_cast<uint32_t>(crc32(0L, Z_NULL, 0)), data, n);
}

}  // namespace latentsearch::base

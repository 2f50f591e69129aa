// CRC-32 (ISO-HDLC / zlib's crc32: reflected polynomial 0xEDB88320, initial
// and final XOR 0xFFFFFFFF), the checksum of every latentsearch file format.
// Lengths of any size (zlib takes 32-bit lengths; this feeds it in chunks).
// Thread-safety: thread-safe (pure functions).
#ifndef LATENTSEARCH_COMMON_BASE_CRC32_H_
#define LATENTSEARCH_COMMON_BASE_CRC32_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace latentsearch::base {

// CRC-32 of `n` bytes at `data`.
uint32_t Crc32(const void* data, size_t n);
inline uint32_t Crc32(absl::string_view data) { return Crc32(data.data(), data.size()); }

// Continues `crc` (a previous result, or 0 for none) over more bytes:
// Crc32Extend(Crc32(a), b) == Crc32(a + b).
uint32_t Crc32Extend(uint32_t crc, const void* data, size_t n);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_CRC32_H_

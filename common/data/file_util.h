// Internal to common/data: file helpers the readers share.
#ifndef LATENTSEARCH_COMMON_DATA_FILE_UTIL_H_
#define LATENTSEARCH_COMMON_DATA_FILE_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace latentsearch::data::internal {

// Reads exactly `size` bytes from the start of `path` into `buf` (size bytes).
// NOT_FOUND / PERMISSION_DENIED from open; DATA_LOSS when the file holds fewer
// bytes (it shrank since it was measured).
// Thread-safety: thread-safe.
absl::Status ReadExactly(const std::string& path, uint8_t* buf, size_t size);

// True when `path` exists (any kind of file).
bool PathExists(const std::string& path);

}  // namespace latentsearch::data::internal

#endif  // LATENTSEARCH_COMMON_DATA_FILE_UTIL_H_

// Whole-file I/O with the project's publishing rule (STYLE.md point 12):
// artifacts are written to a temporary file in the same directory, fsynced,
// renamed over the target and the directory fsynced, so a reader never sees
// half a file and a crash at any point leaves the previous version intact.
//
// Errors name the path and the failing operation (with errno text).
// Thread-safety: all functions are thread-safe for distinct paths.
#ifndef LATENTSEARCH_COMMON_BASE_FILE_H_
#define LATENTSEARCH_COMMON_BASE_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::base {

// Reads the whole file. NOT_FOUND if it does not exist, PERMISSION_DENIED if
// it may not be read, UNKNOWN (with the errno text) for other I/O failures.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Size of a regular file in bytes; NOT_FOUND if it does not exist.
absl::StatusOr<uint64_t> FileSize(const std::string& path);

// Atomically replaces `path` with `contents` (temp + fsync + rename + fsync
// of the directory). The directory must exist.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// Creates `path` and any missing parents (like mkdir -p).
absl::Status MakeDirs(const std::string& path);

// Fsyncs a directory so a rename inside it is durable.
absl::Status SyncDir(const std::string& dir);

// Joins two path components with exactly one '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_FILE_H_

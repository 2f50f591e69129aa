// The file operations that publishing an artifact needs (create, write,
// fsync, rename, fsync of the directory), behind an interface so tests can
// record their order or make one fail (recording_file_ops.h), and
// PublishFile, the one implementation of STYLE.md point 12 on top of it:
// write a temp file in the same directory, fsync it, close, rename it over
// the target, fsync the directory.
//
// Errors come from errno_status.h and name the path and the operation.
// Thread-safety: DefaultFileOps() is thread-safe; a WritableFile is
// thread-compatible (one thread at a time); PublishFile is thread-safe for
// distinct paths when `ops` is.
#ifndef LATENTSEARCH_COMMON_BASE_FILE_OPS_H_
#define LATENTSEARCH_COMMON_BASE_FILE_OPS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::base {

// A file open for writing. The destructor closes it (ignoring errors) if
// Close was not called.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` (retrying short writes and EINTR).
  virtual absl::Status Append(absl::string_view data) = 0;
  // fsync: the data written so far is on stable storage.
  virtual absl::Status Sync() = 0;
  // Closes the file; further calls are errors.
  virtual absl::Status Close() = 0;
};

class FileOps {
 public:
  virtual ~FileOps() = default;
  // Creates `path`, which must not exist, for writing (mode 0644).
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> Create(const std::string& path) = 0;
  // rename(2): atomically replaces `to` with `from`.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // unlink(2).
  virtual absl::Status Remove(const std::string& path) = 0;
  // Fsyncs directory `dir`, so a rename inside it is durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
};

// The real POSIX implementation (a process-lifetime singleton).
FileOps& DefaultFileOps();

// Atomically replaces `path` with what `write` appends to the file it is
// given: `write` fills a temp file "<path>.tmp.<pid>.<random>"; the temp
// file is fsynced and closed, renamed over `path`, and the directory is
// fsynced. On any failure the temp file is removed and `path` is untouched
// (the directory fsync failing is reported after the rename). The directory
// must exist.
absl::Status PublishFile(FileOps& ops, const std::string& path,
                         const std::function<absl::Status(WritableFile&)>& write);

// The directory part of `path` ("." when it has none).
std::string DirName(const std::string& path);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_FILE_OPS_H_

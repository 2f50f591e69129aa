// FileOps over POSIX, and PublishFile (see file_ops.h).
#include "common/base/file_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"
#include "common/base/logging.h"

namespace latentsearch::base {
namespace {

// Thread-compatible: one thread at a time.
class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("write", path_, errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fsync(fd_) != 0) return ErrnoError("fsync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    const int fd = fd_;
    fd_ = -1;
    if (fd < 0) return ErrnoError("close", path_, EBADF);
    if (::close(fd) != 0) return ErrnoError("close", path_, errno);
    return absl::OkStatus();
  }

 private:
  int fd_;
  const std::string path_;
};

// Stateless: thread-safe.
class PosixFileOps final : public FileOps {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> Create(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("create", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError(absl::StrCat("rename to '", to, "' from"), from, errno);
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoError("remove", path, errno);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("open directory", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoError("fsync directory", dir, err);
    return absl::OkStatus();
  }
};

std::string TempPathFor(const std::string& path) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(path, ".tmp.", ::getpid(), ".", rng());
}

}  // namespace

FileOps& DefaultFileOps() {
  static PosixFileOps* ops = new PosixFileOps();
  return *ops;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status PublishFile(FileOps& ops, const std::string& path,
                         const std::function<absl::Status(WritableFile&)>& write) {
  const std::string tmp = TempPathFor(path);
  absl::StatusOr<std::unique_ptr<WritableFile>> file = ops.Create(tmp);
  if (!file.ok()) return file.status();
  absl::Status s = write(**file);
  if (s.ok()) s = (*file)->Sync();
  absl::Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = ops.Rename(tmp, path);
  if (!s.ok()) {
    // Best effort: the error that matters is s; a leftover temp file is
    // harmless (readers never open it) but worth a line in the log.
    absl::Status removed = ops.Remove(tmp);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      LOG(WARNING) << "cannot remove temp file after a failed write: " << removed;
    }
    return s;
  }
  return ops.SyncDir(DirName(path));
}

}  // namespace latentsearch::base

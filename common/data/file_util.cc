#include "common/data/file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"

namespace latentsearch::data::internal {
namespace {

using base::ErrnoError;

// Closes a file descriptor when it goes out of scope. Thread-compatible.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::Status ReadExactly(const std::string& path, uint8_t* buf, size_t size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("open", path, errno);
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd.get(), buf + got, size - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat("'", path, "': ended after ", got, " bytes while ",
                                              size,
                                              " were expected (the file shrank while being read)"));
    }
    got += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace latentsearch::data::internal

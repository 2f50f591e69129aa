// errno → absl::Status (see errno_status.h).
#include "common/base/errno_status.h"

#include <errno.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace latentsearch::base {
namespace {

// glibc's GNU strerror_r returns the message (maybe not in buf); the XSI one
// returns an int and fills buf. These overloads accept either.
[[maybe_unused]] const char* StrerrorResult(int rc, const char* buf) {
  return rc == 0 ? buf : "unknown error";
}
[[maybe_unused]] const char* StrerrorResult(const char* msg, const char*) { return msg; }

}  // namespace

std::string ErrnoText(int err) {
  char buf[256] = {0};
  return StrerrorResult(::strerror_r(err, buf, sizeof(buf)), buf);
}

absl::Status ErrnoToStatus(int err, absl::string_view what) {
  std::string msg = absl::StrCat(what, ": ", ErrnoText(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::UnknownError(msg);
  }
}

absl::Status ErrnoError(absl::string_view op, absl::string_view path, int err) {
  return ErrnoToStatus(err, absl::StrCat(op, " '", path, "'"));
}

}  // namespace latentsearch::base

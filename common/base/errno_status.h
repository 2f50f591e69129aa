// errno → absl::Status, the one mapping every POSIX call site uses:
//   ENOENT → NOT_FOUND, EACCES / EPERM → PERMISSION_DENIED,
//   ENOSPC / EDQUOT → RESOURCE_EXHAUSTED, anything else → UNKNOWN.
// The message is "<what>: <strerror(err)>".
// Thread-safety: thread-safe (strerror_r, no shared state).
#ifndef LATENTSEARCH_COMMON_BASE_ERRNO_STATUS_H_
#define LATENTSEARCH_COMMON_BASE_ERRNO_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace latentsearch::base {

// `err` (an errno value) with `what` (the failed operation, e.g.
// "open '/a/b'") as the message prefix. `err` == 0 yields UNKNOWN too: the
// caller saw a failure even if errno did not say why.
absl::Status ErrnoToStatus(int err, absl::string_view what);

// ErrnoToStatus(err, "<op> '<path>'"): the form file operations use.
absl::Status ErrnoError(absl::string_view op, absl::string_view path, int err);

// strerror(err), thread-safe.
std::string ErrnoText(int err);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_ERRNO_STATUS_H_

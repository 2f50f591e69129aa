// The project's one logging facility: Google's glog (Debian's
// libgoogle-glog-dev, which LibTorch already links), so the services and
// LibTorch write one format to stderr:
//
//   W20261206 12:00:00.123456  4242 collection.cc:312] rebuilding graph ...
//   ^level ^date  ^time          ^thread ^component (file:line)
//
// Use glog's macros directly (LOG(INFO), LOG(WARNING), LOG(ERROR), VLOG(n));
// never LOG(FATAL) or CHECK on anything a client sent (STYLE.md point 6).
// Every failure the code recovers from is logged at WARNING with its cause.
//
// glog's own flags are gflags, which absl::ParseCommandLine does not accept,
// so binaries expose the level as Abseil flags (services/common/server_flags)
// and pass them to InitLogging.
//
// Thread-safety: InitLogging must be called once from main before threads
// start; the LOG macros are thread-safe.
#ifndef LATENTSEARCH_COMMON_BASE_LOGGING_H_
#define LATENTSEARCH_COMMON_BASE_LOGGING_H_

#include <glog/logging.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace latentsearch::base {

// glog's severities, by name.
enum class LogLevel { kInfo = 0, kWarning = 1, kError = 2 };

// Parses "info", "warning" or "error" (any case). INVALID_ARGUMENT names the
// allowed values otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);

// Sends everything to stderr (no log files), drops messages below
// `min_level`, enables VLOG(n) for n <= `verbosity`. `program` names the
// binary; the first call initialises glog, later calls only set the levels.
void InitLogging(const char* program, LogLevel min_level, int verbosity = 0);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_LOGGING_H_

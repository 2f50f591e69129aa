#include "common/base/logging.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace latentsearch::base {

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("log level '", text, "' is not one of: info, warning, error"));
}

void InitLogging(const char* program, LogLevel min_level, int verbosity) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = static_cast<int>(min_level);
  FLAGS_v = verbosity;
  if (!google::IsGoogleLoggingInitialized()) google::InitGoogleLogging(program);
}

}  // namespace latentsearch::base

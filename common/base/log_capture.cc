// LogCapture (see log_capture.h).
#include "common/base/log_capture.h"

#include "absl/strings/str_cat.h"

namespace latentsearch::base {

LogCapture::LogCapture(google::LogSeverity min_severity) : min_severity_(min_severity) {
  google::AddLogSink(this);
}

LogCapture::~LogCapture() { google::RemoveLogSink(this); }

std::vector<std::string> LogCapture::messages() const {
  std::lock_guard<std::mutex> l(mu_);
  return messages_;
}

void LogCapture::send(google::LogSeverity severity, const char* full_filename,
                      const char* base_filename, int line, const std::tm* tm_time,
                      const char* message, size_t message_len) {
  if (severity < min_severity_) return;
  std::string text =
      absl::StrCat(std::string(1, google::GetLogSeverityName(severity)[0]), " ", base_filename, ":",
                   line, "] ", absl::string_view(message, message_len));
  std::lock_guard<std::mutex> l(mu_);
  messages_.push_back(std::move(text));
}

}  // namespace latentsearch::base

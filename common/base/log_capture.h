// Captures glog messages in tests: while a LogCapture lives, every message
// at or above `min_severity` is also kept (as "W file.cc:12] text"), so a
// test can check that a recovered failure was logged with its cause.
//
//   LogCapture logs(google::GLOG_WARNING);
//   ... code that recovers from a failure ...
//   EXPECT_THAT(logs.messages(), Contains(HasSubstr("checksum mismatch")));
//
// Thread-safety: thread-safe (messages may arrive from any thread).
#ifndef LATENTSEARCH_COMMON_BASE_LOG_CAPTURE_H_
#define LATENTSEARCH_COMMON_BASE_LOG_CAPTURE_H_

#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "common/base/logging.h"

namespace latentsearch::base {

class LogCapture final : public google::LogSink {
 public:
  explicit LogCapture(google::LogSeverity min_severity = google::GLOG_INFO);
  ~LogCapture() override;
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Messages captured so far, in order.
  std::vector<std::string> messages() const;

  void send(google::LogSeverity severity, const char* full_filename, const char* base_filename,
            int line, const std::tm* tm_time, const char* message, size_t message_len) override;

 private:
  const google::LogSeverity min_severity_;
  mutable std::mutex mu_;
  std::vector<std::string> messages_;  // guarded by mu_
};

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_LOG_CAPTURE_H_

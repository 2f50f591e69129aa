#include "clients/cli/progress.h"

#include <unistd.h>

#include <cmath>
#include <iostream>

#include "absl/strings/str_format.h"

namespace latentsearch::cli {

void ProgressLine::Update(const std::string& line, bool force) {
  std::lock_guard<std::mutex> l(mu_);
  line_ = line;
  finished_ = false;
  if (!live_) return;
  const absl::Time now = absl::Now();
  if (!force && now - last_ < min_interval_) return;
  last_ = now;
  *os_ << "\r" << line_ << "\033[K" << std::flush;
  drawn_ = true;
}

void ProgressLine::Print(const std::string& line) {
  std::lock_guard<std::mutex> l(mu_);
  if (live_ && drawn_) *os_ << "\r\033[K";
  *os_ << line << "\n";
  if (live_ && drawn_) *os_ << line_ << "\033[K" << std::flush;
}

void ProgressLine::Finish() {
  std::lock_guard<std::mutex> l(mu_);
  if (finished_ || line_.empty()) return;
  finished_ = true;
  if (live_) {
    *os_ << "\r" << line_ << "\033[K\n" << std::flush;
  } else {
    *os_ << line_ << "\n";
  }
  drawn_ = false;
  line_.clear();
}

bool IsTerminal(const std::ostream* os) { return os == &std::cerr && isatty(STDERR_FILENO) == 1; }

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

}  // namespace latentsearch::cli

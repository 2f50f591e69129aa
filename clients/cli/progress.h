// A one-line progress display on a terminal: each Update() redraws the line
// in place ("\r...", erased to the end), at most every `min_interval`;
// Finish() ends it with a newline. When the stream is not a terminal
// (`live` false) nothing is drawn until Finish(), which prints the last
// line once, so logs and tests get one clean line.
// Thread-safety: thread-safe (one mutex); Update may be called from workers.
#ifndef LATENTSEARCH_CLIENTS_CLI_PROGRESS_H_
#define LATENTSEARCH_CLIENTS_CLI_PROGRESS_H_

#include <mutex>
#include <ostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace latentsearch::cli {

class ProgressLine {
 public:
  ProgressLine(std::ostream* os, bool live, absl::Duration min_interval = absl::Milliseconds(100))
      : os_(os), live_(live), min_interval_(min_interval) {}
  ~ProgressLine() { Finish(); }

  // Replaces the line; `force` draws even within min_interval.
  void Update(const std::string& line, bool force = false);
  // Prints `line` on its own line above the progress line (e.g. an epoch's
  // summary); the progress line is redrawn by the next Update.
  void Print(const std::string& line);
  // Ends the progress line (idempotent).
  void Finish();

 private:
  std::mutex mu_;
  std::ostream* os_;
  const bool live_;
  const absl::Duration min_interval_;
  absl::Time last_ = absl::InfinitePast();
  std::string line_;
  bool drawn_ = false;
  bool finished_ = false;
};

// True when `os` is std::cerr and stderr is a terminal.
bool IsTerminal(const std::ostream* os);

// "1h02m", "3m05s", "42s"; "?" for a negative or non-finite value.
std::string FormatEta(double seconds);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_PROGRESS_H_

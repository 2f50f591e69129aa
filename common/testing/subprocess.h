// Runs one of our binaries as a child process for integration tests: starts
// it, waits (without sleeping) for the "listening on ADDRESS" line it logs
// on stderr, and stops it with SIGTERM or SIGKILL.
// Thread-safety: one thread per Subprocess.
#ifndef LATENTSEARCH_COMMON_TESTING_SUBPROCESS_H_
#define LATENTSEARCH_COMMON_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace latentsearch::testing {

class Subprocess {
 public:
  // Starts `argv[0]` (a path) with `argv`; stderr goes to `log_path` and is
  // also scanned for "listening on ". Returns once the address is known (or
  // the process exited / `timeout` passed: UNAVAILABLE with the log's tail).
  static absl::StatusOr<std::unique_ptr<Subprocess>> StartServer(
      const std::vector<std::string>& argv, const std::string& log_path,
      absl::Duration timeout = absl::Seconds(60));

  ~Subprocess();  // SIGKILL if still running.

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the exit; returns the wait status.
  int Stop(int signal);

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  std::string address_;
  // Copies the rest of the child's stderr into the log until it exits.
  std::thread drainer_;
};

// The path of a binary built into <build>/bin.
std::string BinaryPath(const std::string& name);

// Runs `command` through /bin/sh to completion with stdout and stderr both
// into *output (replaced); returns the exit status, or -1 when it could not
// be started or did not exit normally.
int RunShell(const std::string& command, std::string* output);

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_COMMON_TESTING_SUBPROCESS_H_

// Runs the `latentsearch` CLI in-process for the tests in tests/unit/cli:
// one subcommand line in, exit code and both streams out.
// Thread-safety: RunCli sets process-wide absl flags (restored afterwards);
// call it from one thread at a time.
#ifndef LATENTSEARCH_TESTS_UNIT_CLI_CLI_RUNNER_H_
#define LATENTSEARCH_TESTS_UNIT_CLI_CLI_RUNNER_H_

#include <string>
#include <vector>

namespace latentsearch::cli {

struct CliResult {
  int code;         // The exit code Main returned.
  std::string out;  // Everything written to stdout.
  std::string err;  // Everything written to stderr.
};

// Runs `latentsearch <args...>` with the real command table; every flag is
// restored to its previous value afterwards.
CliResult RunCli(std::vector<std::string> args);

// Number of '\n' in `s`.
int Lines(const std::string& s);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_TESTS_UNIT_CLI_CLI_RUNNER_H_

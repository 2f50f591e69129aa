// Subcommand dispatch for the `latentsearch` CLI.
//
// Each subcommand is a Command: a name, one line of summary, a usage line,
// the names of the absl flags it accepts (defined in its own .cc, or shared
// ones such as dataset_flags.h) and a Run function. Adding a subcommand =
// one .cc with its flags and Run, one entry in Commands() (command_table.cc).
//
// Flags are parsed here rather than by absl::ParseCommandLine so that each
// subcommand accepts only its own flags and a usage error exits with 2 (absl
// exits with 1). Accepted forms: --name=value, --name value, --name / --noname
// for booleans; "--" ends the flags.
//
// Exit codes: 0 success, 1 the command failed (one line on stderr), 2 usage
// error (bad flag, bad value, unknown subcommand).
//
// This is the CLI binary's own code: it reads flags; libraries must not.
#ifndef LATENTSEARCH_CLIENTS_CLI_COMMAND_H_
#define LATENTSEARCH_CLIENTS_CLI_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace latentsearch::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// What a subcommand's Run gets. Flags have already been set.
// Thread-compatible; the streams are not owned.
struct CommandContext {
  std::vector<std::string> positional;  // Arguments that are not flags.
  std::ostream* out;                    // Results.
  std::ostream* err;                    // Diagnostics.
};

// One subcommand. A value type; Run is called from the main thread only.
struct Command {
  std::string name;                // e.g. "data-info".
  std::string summary;             // One line for the subcommand list.
  std::string usage;               // Arguments synopsis, e.g. "--dataset=KIND --path=DIR".
  std::vector<std::string> flags;  // absl flag names the subcommand accepts.
  int (*run)(const CommandContext& context);
};

// Runs the CLI: argv[1] names the subcommand, the rest are its flags.
// Writes results to `out`, usage and errors to `err` (help to `out`).
// Returns the process exit code.
// Thread-safety: sets process-wide absl flags; call from one thread.
int Main(int argc, const char* const* argv, absl::Span<const Command> commands, std::ostream& out,
         std::ostream& err);

// Maps a failed status to an exit code: INVALID_ARGUMENT (a bad flag value)
// is a usage error (2), anything else a failure (1).
int ExitCodeFor(const absl::Status& status);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_COMMAND_H_

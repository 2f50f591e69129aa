#include "tests/unit/cli/cli_runner.h"

#include <algorithm>
#include <sstream>

#include "absl/flags/reflection.h"
#include "clients/cli/command.h"
#include "clients/cli/command_table.h"

namespace latentsearch::cli {

CliResult RunCli(std::vector<std::string> args) {
  absl::FlagSaver saver;
  args.insert(args.begin(), "latentsearch");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = Main(static_cast<int>(argv.size()), argv.data(), Commands(), out, err);
  return {code, out.str(), err.str()};
}

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace latentsearch::cli

#include "clients/cli/command.h"

#include <algorithm>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace latentsearch::cli {
namespace {

constexpr absl::string_view kProgram = "latentsearch";

void PrintUsage(absl::Span<const Command> commands, std::ostream& os) {
  os << "Usage: " << kProgram << " <subcommand> [--flag=value ...]\n"
     << "       " << kProgram << " <subcommand> --help\n\nSubcommands:\n";
  size_t width = 0;
  for (const Command& c : commands) width = std::max(width, c.name.size());
  for (const Command& c : commands) {
    os << "  " << c.name << std::string(width - c.name.size() + 2, ' ') << c.summary << "\n";
  }
}

void PrintCommandHelp(const Command& c, std::ostream& os) {
  os << "Usage: " << kProgram << " " << c.name << " " << c.usage << "\n\n" << c.summary << "\n";
  if (c.flags.empty()) return;
  os << "\nFlags:\n";
  for (const std::string& name : c.flags) {
    const absl::CommandLineFlag* f = absl::FindCommandLineFlag(name);
    if (f == nullptr) continue;
    os << "  --" << name
       << " (default: " << (f->DefaultValue().empty() ? "\"\"" : f->DefaultValue()) << ")\n      "
       << f->Help() << "\n";
  }
}

// Sets the flags in args[first..]; collects the rest as positional arguments.
// Returns false after printing one line to `err` on a usage error.
bool ParseFlags(const Command& c, int argc, const char* const* argv, int first, bool* help,
                std::vector<std::string>* positional, std::ostream& err) {
  const std::string where = absl::StrCat(kProgram, " ", c.name, ": ");
  auto allowed = [&](absl::string_view name) {
    return std::find(c.flags.begin(), c.flags.end(), name) != c.flags.end();
  };
  bool flags_done = false;
  for (int i = first; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      positional->emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    absl::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    if (body == "help" || body == "h") {
      *help = true;
      continue;
    }
    absl::string_view name = body;
    absl::string_view value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    absl::CommandLineFlag* flag = allowed(name) ? absl::FindCommandLineFlag(name) : nullptr;
    std::string negated_value;
    if (flag == nullptr && !has_value && absl::StartsWith(name, "no") && allowed(name.substr(2))) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && flag->IsOfType<bool>()) {
        name = name.substr(2);
        value = "false";
        has_value = true;
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      err << where << "unknown flag --" << name << "; run '" << kProgram << " " << c.name
          << " --help' for its flags\n";
      return false;
    }
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        err << where << "flag --" << name << " needs a value\n";
        return false;
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      err << where << "invalid value '" << value << "' for --" << name << ": " << error << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return kExitOk;
  return absl::IsInvalidArgument(status) ? kExitUsage : kExitFailure;
}

int Main(int argc, const char* const* argv, absl::Span<const Command> commands, std::ostream& out,
         std::ostream& err) {
  if (argc < 2) {
    PrintUsage(commands, err);
    return kExitUsage;
  }
  absl::string_view sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help" || sub == "-help") {
    PrintUsage(commands, out);
    return kExitOk;
  }
  const Command* command = nullptr;
  for (const Command& c : commands) {
    if (c.name == sub) command = &c;
  }
  if (command == nullptr) {
    err << kProgram << ": unknown subcommand '" << sub << "'; run '" << kProgram
        << " --help' for the list\n";
    return kExitUsage;
  }
  bool help = false;
  CommandContext context{{}, &out, &err};
  if (!ParseFlags(*command, argc, argv, 2, &help, &context.positional, err)) {
    return kExitUsage;
  }
  if (help) {
    PrintCommandHelp(*command, out);
    return kExitOk;
  }
  return command->run(context);
}

}  // namespace latentsearch::cli

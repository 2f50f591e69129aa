// Machine description for the cluster benchmark (machine_info.h).
// Thread-safety: pure functions.
#include "tests/bench/cluster/machine_info.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"

namespace latentsearch::bench {
namespace {

std::string Shell(const std::string& command) {
  std::string out;
  if (testing::RunShell(command, &out) != 0) return "(failed: " + command + ")";
  return std::string(absl::StripAsciiWhitespace(out));
}

// The value of "KEY:   value" in lscpu's output.
std::string LscpuField(const std::string& lscpu, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(lscpu, '\n')) {
    if (absl::ConsumePrefix(&line, key + ":")) return std::string(absl::StripAsciiWhitespace(line));
  }
  return "(unknown)";
}

}  // namespace

std::string MachineDescription() {
  const std::string lscpu = Shell("LC_ALL=C lscpu");
  std::vector<std::string> wide;
  for (absl::string_view flag : absl::StrSplit(LscpuField(lscpu, "Flags"), ' ')) {
    if (absl::StartsWith(flag, "avx512") || absl::StartsWith(flag, "amx")) {
      wide.emplace_back(flag);
    }
  }
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  return absl::StrCat(
      "- CPU: ", LscpuField(lscpu, "Model name"), ", ", std::thread::hardware_concurrency(),
      " hardware threads\n",
      "- flags: ", wide.empty() ? "(no avx512*/amx*)" : absl::StrJoin(wide, " "), "\n", "- AMX: ",
      std::any_of(wide.begin(), wide.end(),
                  [](const std::string& f) { return absl::StartsWith(f, "amx"); })
          ? "yes"
          : "no",
      "\n", "- OPENBLAS_CORETYPE: ", coretype == nullptr ? "(unset)" : coretype, "\n",
      "- source: ", Shell("git -C '" + testing::SourceDir() + "' describe --always --dirty"), "\n");
}

std::string UptimeLine() {
  return absl::StrCat("`", Shell("date -u +%FT%TZ"), "` `", Shell("uptime"), "`");
}

}  // namespace latentsearch::bench

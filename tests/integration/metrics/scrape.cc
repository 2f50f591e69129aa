#include "tests/integration/metrics/scrape.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/file.h"
#include "common/testing/test_env.h"
#include "httplib.h"

#ifndef LS_DEBIAN_PYTHON
#define LS_DEBIAN_PYTHON "/usr/bin/python3"
#endif

namespace latentsearch::testing {

absl::StatusOr<std::string> WaitForLogWord(const std::string& log_path, const std::string& marker,
                                           absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string text;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> read = base::ReadFile(log_path);
    if (read.ok()) {
      text = *read;
      const size_t at = text.find(marker);
      if (at != std::string::npos) {
        const size_t start = at + marker.size();
        const size_t end = text.find_first_of(" \n", start);
        if (end != std::string::npos) return text.substr(start, end - start);
      }
    }
    // The line is written by another process: nothing to wait on but the
    // file; yield and poll again until the deadline.
    std::this_thread::yield();
  }
  return absl::DeadlineExceededError(
      absl::StrCat("'", marker, "' did not appear in ", log_path, ":\n", text));
}

absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("not HOST:PORT: ", address));
  }
  httplib::Client client(address.substr(0, colon), port);
  client.set_connection_timeout(10);
  client.set_read_timeout(30);
  httplib::Result res = client.Get(path.c_str());
  if (!res) {
    return absl::UnavailableError(
        absl::StrCat("GET http://", address, path, ": ", httplib::to_string(res.error())));
  }
  if (res->status != 200) {
    return absl::InternalError(
        absl::StrCat("GET http://", address, path, ": HTTP ", res->status, "\n", res->body));
  }
  return res->body;
}

double ParsedMetrics::Value(const std::string& key) const {
  auto it = samples.find(key);
  return it == samples.end() ? 0 : it->second;
}

double ParsedMetrics::Sum(const std::string& prefix) const {
  double sum = 0;
  for (auto it = samples.lower_bound(prefix);
       it != samples.end() && absl::StartsWith(it->first, prefix); ++it) {
    sum += it->second;
  }
  return sum;
}

absl::StatusOr<ParsedMetrics> ParseWithPrometheusClient(const std::string& page) {
  TempDir dir;
  const std::string page_path = dir.Join("page.txt");
  const std::string err_path = dir.Join("stderr.txt");
  {
    std::ofstream out(page_path, std::ios::binary);
    out << page;
  }
  const std::string script =
      base::JoinPath(SourceDir(), "tests/integration/metrics/parse_metrics.py");
  const std::string command =
      absl::StrCat(LS_DEBIAN_PYTHON, " ", script, " ", page_path, " 2>", err_path);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int rc = ::pclose(pipe);
  if (rc != 0) {
    absl::StatusOr<std::string> err = base::ReadFile(err_path);
    const std::string message = err.ok() ? *err : "";
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 2) {
      return absl::InvalidArgumentError(absl::StrCat(message, "\npage:\n", page));
    }
    return absl::InternalError(absl::StrCat("`", command, "` failed: ", message));
  }
  ParsedMetrics parsed;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() != 3) return absl::InternalError(absl::StrCat("odd parser line: ", line));
    if (f[0] == "family") {
      parsed.family_types[f[1]] = f[2];
    } else {
      double v = 0;
      if (f[2] == "nan") {
        v = std::numeric_limits<double>::quiet_NaN();
      } else if (!absl::SimpleAtod(f[2], &v)) {
        return absl::InternalError(absl::StrCat("odd value: ", line));
      }
      parsed.samples[f[1]] = v;
    }
  }
  return parsed;
}

}  // namespace latentsearch::testing

#include "common/testing/test_env.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/base/file.h"

#ifndef LS_COMPILED_SOURCE_DIR
#define LS_COMPILED_SOURCE_DIR "."
#endif
#ifndef LS_COMPILED_BINARY_DIR
#define LS_COMPILED_BINARY_DIR "."
#endif

namespace latentsearch::testing {
namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TempDir::TempDir() {
  std::string base = EnvOr("TEST_TMPDIR", "/tmp");
  std::string tmpl = base::JoinPath(base, "latentsearch-test-XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    // Start-up misconfiguration of the test environment: abort loudly.
    std::abort();
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Join(const std::string& name) const { return base::JoinPath(path_, name); }

std::string SourceDir() { return EnvOr("LS_SOURCE_DIR", LS_COMPILED_SOURCE_DIR); }
std::string BinaryDir() { return EnvOr("LS_BINARY_DIR", LS_COMPILED_BINARY_DIR); }

std::optional<std::string> Cifar10Dir() {
  std::string dir = EnvOr("LS_CIFAR10_DIR", base::JoinPath(SourceDir(), "../shared/data/cifar10"));
  if (!Exists(base::JoinPath(dir, "test_batch.bin"))) return std::nullopt;
  return dir;
}

std::optional<std::string> FashionMnistDir() {
  std::string dir = EnvOr("LS_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist");
  if (!Exists(base::JoinPath(dir, "t10k-labels-idx1-ubyte.gz")) &&
      !Exists(base::JoinPath(dir, "t10k-labels-idx1-ubyte"))) {
    return std::nullopt;
  }
  return dir;
}

bool MappingHasFlag(const void* p, const std::string& flag) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= at && at < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return (line + " ").find(" " + flag + " ") != std::string::npos;
    }
  }
  return false;
}

}  // namespace latentsearch::testing

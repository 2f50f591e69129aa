#include "common/base/openblas_core.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace latentsearch::base {
namespace {

constexpr char kFallbackEnv[] = "LS_OPENBLAS_FALLBACK";

}  // namespace

CpuIsa HostCpuIsa() {
  __builtin_cpu_init();
  CpuIsa isa;
  isa.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  isa.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  isa.avx512_bf16 = isa.avx512 && __builtin_cpu_supports("avx512bf16");
  return isa;
}

std::string CoreTypeFor(absl::string_view detected_core, const CpuIsa& isa) {
  if (detected_core != "Prescott") return "";
  if (isa.avx512_bf16) return "Cooperlake";
  if (isa.avx512) return "SkylakeX";
  if (isa.avx2_fma) return "Haswell";
  return "";
}

std::string LoadedOpenBlasCore() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name == nullptr ? "" : name;
}

void ReexecIfOpenBlasFellBack(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or ours already
  const std::string detected = LoadedOpenBlasCore();
  const std::string core = CoreTypeFor(detected, HostCpuIsa());
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv(kFallbackEnv, detected.c_str(), 1);
  execv("/proc/self/exe", argv);
  // The exec failed: keep running on the generic kernels, and say so later.
  const int err = errno;
  unsetenv("OPENBLAS_CORETYPE");
  setenv(kFallbackEnv, absl::StrCat("exec failed: ", std::strerror(err)).c_str(), 1);
}

std::string OpenBlasCoreNote() {
  const std::string core = LoadedOpenBlasCore();
  if (core.empty()) return "";
  std::string note = absl::StrCat("OpenBLAS kernels: ", core);
  const char* fallback = std::getenv(kFallbackEnv);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (fallback != nullptr && coretype != nullptr) {
    absl::StrAppend(&note, " (OPENBLAS_CORETYPE=", coretype,
                    " set by latentsearch: OpenBLAS did not know this CPU and chose ", fallback,
                    ", its generic kernels)");
  } else if (fallback != nullptr) {
    absl::StrAppend(&note,
                    " (OpenBLAS did not know this CPU; re-executing with a better "
                    "OPENBLAS_CORETYPE failed: ",
                    fallback, ")");
  } else if (coretype != nullptr) {
    absl::StrAppend(&note, " (OPENBLAS_CORETYPE=", coretype, " from the environment)");
  } else {
    absl::StrAppend(&note, " (chosen by OpenBLAS for this CPU)");
  }
  return note;
}

}  // namespace latentsearch::base

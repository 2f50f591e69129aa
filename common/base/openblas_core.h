// OpenBLAS's kernel choice on CPUs it does not know.
//
// Debian's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernels from
// the CPU's family and model when the library loads. A model it does not know
// gets its generic "Prescott" (SSE3) kernels: on the Xeon of this project's
// development machines (family 6, model 207), a 2048³ sgemm ran at 19–30
// GFLOP/s on one thread with them, and at 145 with the AVX-512 kernels that
// `OPENBLAS_CORETYPE=SkylakeX` selects. LibTorch's fp32 matrix products
// (Linear layers, ConvTranspose2d's im2col path) run on OpenBLAS.
//
// The kernels are chosen once, before main, from the environment, so the fix
// is to re-execute the process with OPENBLAS_CORETYPE set, chosen from the
// CPU's instruction-set flags, and only when OpenBLAS fell back to Prescott
// and the user did not set OPENBLAS_CORETYPE. A CPU OpenBLAS knows (or any
// explicit setting) is left alone.
//
// Thread-safety: ReexecIfOpenBlasFellBack must run on main's thread before
// any other thread starts; the rest is pure.
#ifndef LATENTSEARCH_COMMON_BASE_OPENBLAS_CORE_H_
#define LATENTSEARCH_COMMON_BASE_OPENBLAS_CORE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace latentsearch::base {

// The instruction-set extensions that decide OpenBLAS's kernel family.
struct CpuIsa {
  bool avx2_fma = false;
  bool avx512 = false;  // avx512f, bw, vl and dq together
  bool avx512_bf16 = false;
};

// This CPU's flags (cpuid, through the compiler's builtins).
CpuIsa HostCpuIsa();

// The OPENBLAS_CORETYPE to set when OpenBLAS named `detected_core` for a CPU
// with `isa`: "Cooperlake", "SkylakeX" or "Haswell" when OpenBLAS fell back to
// "Prescott" on a CPU with AVX2 or better; "" (leave it) otherwise.
std::string CoreTypeFor(absl::string_view detected_core, const CpuIsa& isa);

// The core OpenBLAS chose in this process ("" when no OpenBLAS is loaded),
// e.g. "SkylakeX"; looked up with dlsym, so binaries without OpenBLAS link.
std::string LoadedOpenBlasCore();

// When OpenBLAS is loaded, fell back to Prescott, OPENBLAS_CORETYPE is unset
// and CoreTypeFor names a better core: sets OPENBLAS_CORETYPE (and
// LS_OPENBLAS_FALLBACK=Prescott, so the new process can say what happened)
// and execv's /proc/self/exe with `argv`. Returns only when nothing needed
// doing or the exec failed (then OpenBLAS keeps its generic kernels).
void ReexecIfOpenBlasFellBack(char** argv);

// One line for the log after start: "" when OpenBLAS is not loaded; else
// e.g. "OpenBLAS kernels: SkylakeX (OPENBLAS_CORETYPE set by latentsearch:
// OpenBLAS 0.3.21 did not know this CPU and chose Prescott)".
std::string OpenBlasCoreNote();

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_OPENBLAS_CORE_H_

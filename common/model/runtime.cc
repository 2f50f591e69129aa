// Thread, allocator and device settings (runtime.h). Includes only the
// LibTorch headers it needs (ATen's thread pool, torch::cuda), not
// <torch/torch.h>.
#include "common/model/runtime.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>
#include <torch/cuda.h>

#include <algorithm>
#include <exception>
#include <thread>

#include "common/base/logging.h"

namespace latentsearch::model {
namespace {

// The cores this process may run on (its affinity mask), else the machine's.
int NumCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

ThreadSettings SetThreads(int intra_op, int blas) {
  ThreadSettings set;
  set.intra_op = intra_op > 0 ? intra_op : NumCores();
  set.blas = blas > 0 ? blas : 1;
  at::set_num_threads(set.intra_op);
  // OpenBLAS keeps its own pool and ignores torch::set_num_threads. Debian
  // links LibTorch against libblas.so.3 (an alternative that may or may not
  // be OpenBLAS), so look the symbol up at run time instead of linking it.
  using SetFn = void (*)(int);
  auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn != nullptr) {
    fn(set.blas);
  } else {
    set.blas = 0;  // Not OpenBLAS: nothing to set.
  }
  return set;
}

void TuneAllocatorForTraining() {
  // 1 GiB: every tensor of these models is served from the heap; freed
  // memory is kept (trim threshold) for the next step's tensors.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // Per-thread arenas are 64 MiB heaps: big blocks from the training
  // thread would still be mapped afresh. One arena (the heap) for all.
  mallopt(M_ARENA_MAX, 1);
}

bool CudaAvailable() {
  try {
    return torch::cuda::is_available();
  } catch (const std::exception& e) {
    LOG(WARNING) << "probing for CUDA failed, running on the CPU: " << e.what();
    return false;
  }
}

}  // namespace latentsearch::model

// Process and LibTorch runtime settings for running models: intra-op and
// BLAS threads, glibc's allocator for training, and whether CUDA is usable.
// Plain C++ (no torch headers); model.h includes it.
//
// Thread-safety: CudaAvailable is thread-safe. SetThreads affects the
// calling thread's parallel regions and OpenBLAS's process-wide pool;
// TuneAllocatorForTraining is process-wide: call both from the thread that
// runs the model, or from main() before threads start.
#ifndef LATENTSEARCH_COMMON_MODEL_RUNTIME_H_
#define LATENTSEARCH_COMMON_MODEL_RUNTIME_H_

namespace latentsearch::model {

// Sets LibTorch's intra-op threads for the *calling* thread's parallel
// regions (OpenMP keeps this per thread: call it on the thread that runs the
// model) and OpenBLAS's pool. 0 = the number of cores for intra-op; for BLAS
// 0 = 1 (ATen calls BLAS outside its own parallel regions; two spinning
// pools on two cores are several times slower). Returns what was set.
struct ThreadSettings {
  int intra_op = 0;
  int blas = 0;
};
ThreadSettings SetThreads(int intra_op, int blas = 0);

// Makes glibc malloc keep large blocks in the heap instead of mmap/munmap
// per allocation: training allocates and frees tensors of 30+ MB every step
// (above glibc's largest dynamic mmap threshold, 32 MiB), and each fresh
// mapping costs page faults on first touch — measured at a quarter of seed's
// step time. A process-wide setting: call it from main() of a training
// process (latentsearch-trainer, benchmarks), not from libraries.
void TuneAllocatorForTraining();

// True when LibTorch was built with CUDA and sees a device.
bool CudaAvailable();

}  // namespace latentsearch::model

#endif  // LATENTSEARCH_COMMON_MODEL_RUNTIME_H_

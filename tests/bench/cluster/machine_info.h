// What the cluster benchmark prints about the machine before and after its
// runs (docs/benchmarks.md): the CPU model and its AVX-512 / AMX flags from
// `lscpu`, the core count, `uptime` (load averages), OPENBLAS_CORETYPE and
// the source revision, so that figures from different hosts are not
// compared blindly.
// Thread-safety: pure functions (they run child processes).
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_MACHINE_INFO_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_MACHINE_INFO_H_

#include <string>

namespace latentsearch::bench {

// Markdown lines: CPU model, hardware threads, avx512* and amx* flags,
// OPENBLAS_CORETYPE, `git describe` of the source tree.
std::string MachineDescription();

// "`<uptime output>`" with the wall-clock time.
std::string UptimeLine();

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_MACHINE_INFO_H_

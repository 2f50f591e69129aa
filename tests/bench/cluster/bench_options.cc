// The interrupt flag of bench_options.h.
// Thread-safety: an atomic written by a signal handler.
#include "tests/bench/cluster/bench_options.h"

#include <signal.h>

#include <atomic>

namespace latentsearch::bench {
namespace {

std::atomic<bool> interrupted{false};

void OnSignal(int) { interrupted.store(true); }

}  // namespace

bool Interrupted() { return interrupted.load(); }

void InstallInterruptHandler() {
  struct sigaction sa = {};
  sa.sa_handler = &OnSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace latentsearch::bench

// SIGTERM / SIGINT -> a graceful shutdown, without doing anything unsafe in
// a signal handler: the handler only writes the signal number to a pipe;
// Wait() reads it on an ordinary thread, which then drains the server.
//
//   ShutdownSignal::Install();
//   int sig = ShutdownSignal::Wait();   // blocks until SIGTERM/SIGINT
//   server->Shutdown(drain_deadline);
//
// Thread-safety: Install once from main before serving; Wait and Notify
// from any thread.
#ifndef LATENTSEARCH_COMMON_RPC_SHUTDOWN_SIGNAL_H_
#define LATENTSEARCH_COMMON_RPC_SHUTDOWN_SIGNAL_H_

#include "absl/status/status.h"

namespace latentsearch::rpc {

class ShutdownSignal {
 public:
  // Routes SIGTERM and SIGINT to Wait(). Idempotent.
  static absl::Status Install();
  // Blocks until a signal arrives (or Notify); returns its number (0 for
  // Notify). Every later call returns at once.
  static int Wait();
  // Wakes Wait() as if a signal had arrived (for tests and admin RPCs).
  static void Notify();
};

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_SHUTDOWN_SIGNAL_H_

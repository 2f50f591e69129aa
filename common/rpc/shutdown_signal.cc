#include "common/rpc/shutdown_signal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace latentsearch::rpc {
namespace {

int g_pipe[2] = {-1, -1};
std::once_flag g_once;
absl::Status g_install_status;
std::atomic<int> g_received{-1};

void OnSignal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  // Async-signal-safe; a full pipe means a wake-up is already pending.
  [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &b, 1);
  errno = saved;
}

void CreatePipe() {
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) {
    g_install_status =
        absl::InternalError(absl::StrCat("shutdown signal pipe: ", std::strerror(errno)));
  }
}

}  // namespace

absl::Status ShutdownSignal::Install() {
  std::call_once(g_once, CreatePipe);
  if (!g_install_status.ok()) return g_install_status;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGTERM, SIGINT}) {
    if (::sigaction(sig, &sa, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("sigaction(", sig, "): ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

int ShutdownSignal::Wait() {
  std::call_once(g_once, CreatePipe);
  if (g_received.load() >= 0) return g_received.load();
  if (!g_install_status.ok()) return 0;
  unsigned char b = 0;
  while (true) {
    ssize_t n = ::read(g_pipe[0], &b, 1);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    b = 0;
    break;
  }
  g_received.store(b);
  // Wake any other waiter too.
  OnSignal(b);
  return b;
}

void ShutdownSignal::Notify() {
  std::call_once(g_once, CreatePipe);
  if (g_install_status.ok()) OnSignal(0);
}

}  // namespace latentsearch::rpc

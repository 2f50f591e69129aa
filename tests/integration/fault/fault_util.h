// Helpers for the fault tests: waiting for conditions without sleeping
// (polling with a deadline, inotify for files a service creates), counting
// a process's open files and threads, and a fault-injecting unix-socket
// proxy that can hold a stream in the middle.
// Thread-safety: PollUntil and the counters are thread-safe; FileWatch is
// for one thread; UnixProxy is thread-safe.
#ifndef LATENTSEARCH_TESTS_INTEGRATION_FAULT_FAULT_UTIL_H_
#define LATENTSEARCH_TESTS_INTEGRATION_FAULT_FAULT_UTIL_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace latentsearch::fault {

// Calls `done` until it returns true or `timeout` passes (then false).
// Between calls it yields the CPU (sched_yield) and, after the first
// hundred tries, waits 1 ms: polling, not a sleep standing in for a
// condition.
bool PollUntil(const std::function<bool()>& done, absl::Duration timeout);

// Open file descriptors and threads of process `pid` (/proc); -1 on error.
int CountFds(pid_t pid);
int CountThreads(pid_t pid);
// Threads of `pid` other than gRPC's self-sizing pools: the executor
// ("default-executor", grows on demand to 2 × cores and keeps its threads),
// the timer manager ("grpc_global_timer", started and retired by its own
// load rule) and the event engine's pool. Leak checks count these: a thread
// per connection or call would show here.
int CountOwnThreads(pid_t pid);
// "name×count, ..." of the threads of `pid` (/proc/PID/task/*/comm).
std::string ThreadNames(pid_t pid);

// Names in `dir` (not recursive) containing `part`.
std::vector<std::string> FilesContaining(const std::string& dir, const std::string& part);

// Watches `dir` (which must exist) with inotify for a file created (or
// moved in) whose name contains `part`.
class FileWatch {
 public:
  FileWatch(const std::string& dir, std::string part);
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // Blocks until such a file appears (true) or `timeout` passes (false).
  // Returns the name in `name` when not null.
  bool Wait(absl::Duration timeout, std::string* name = nullptr);

 private:
  int fd_ = -1;
  std::string part_;
};

// Listens on unix socket `listen_path`; every accepted connection is
// forwarded to `target_path` (connected anew each time, so a restarted
// server behind the same path is reached). With a hold set, the client ->
// server direction of the first connection stops after `hold_after` bytes
// until Release(): the stream is then in its middle, deterministically.
class UnixProxy {
 public:
  UnixProxy(std::string listen_path, std::string target_path);
  ~UnixProxy();  // Stops and closes every connection.

  absl::Status Start();
  // The next connection to carry `bytes` client bytes is held there.
  void HoldAfter(uint64_t bytes);
  // Blocks until a held connection is waiting (true) or timeout (false).
  bool WaitHeld(absl::Duration timeout);
  // Closes the held connection (both sides) and forwards freely again.
  void DropHeld();
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop();
  void Pump(int client, int server);

  const std::string listen_path_;
  const std::string target_path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t hold_after_ = 0;  // 0 = no hold armed.
  bool held_ = false;
  bool drop_ = false;
  std::vector<std::thread> threads_;
  std::vector<int> fds_;
};

}  // namespace latentsearch::fault

#endif  // LATENTSEARCH_TESTS_INTEGRATION_FAULT_FAULT_UTIL_H_

#include "common/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/testing/test_env.h"

namespace latentsearch::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::StartServer(
    const std::vector<std::string>& argv, const std::string& log_path, absl::Duration timeout) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path));
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    ::dup2(pipefd[1], STDERR_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  auto proc = std::unique_ptr<Subprocess>(new Subprocess());
  proc->pid_ = pid;
  // Read stderr until the address shows up, copying it to the log.
  std::string seen;
  absl::Time deadline = absl::Now() + timeout;
  const std::string marker = "listening on ";
  while (proc->address_.empty()) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) break;
    struct pollfd p = {pipefd[0], POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
    if (n <= 0) break;
    [[maybe_unused]] ssize_t w = ::write(log_fd, buf, n);
    seen.append(buf, n);
    size_t at = seen.find(marker);
    if (at != std::string::npos) {
      size_t end = seen.find_first_of(" \n", at + marker.size());
      if (end != std::string::npos) {
        proc->address_ = seen.substr(at + marker.size(), end - at - marker.size());
      }
    }
  }
  if (proc->address_.empty()) {
    int status = 0;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ::close(pipefd[0]);
    ::close(log_fd);
    proc->pid_ = -1;
    return absl::UnavailableError(
        absl::StrCat(argv[0], " did not report 'listening on' in time; its stderr:\n", seen));
  }
  int read_fd = pipefd[0];
  proc->drainer_ = std::thread([read_fd, log_fd] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(read_fd, buf, sizeof(buf))) > 0) {
      [[maybe_unused]] ssize_t w = ::write(log_fd, buf, n);
    }
    ::close(read_fd);
    ::close(log_fd);
  });
  return proc;
}

Subprocess::~Subprocess() {
  if (pid_ > 0) Stop(SIGKILL);
}

int Subprocess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (drainer_.joinable()) drainer_.join();
  return status;
}

std::string BinaryPath(const std::string& name) {
  return base::JoinPath(BinaryDir(), base::JoinPath("bin", name));
}

int RunShell(const std::string& command, std::string* output) {
  output->clear();
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output->append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace latentsearch::testing

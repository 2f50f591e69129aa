// A single-member etcd for tests (etcd_process.h).
// Thread-safety: one thread per EtcdProcess.
#include "common/testing/etcd_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace latentsearch::testing {
namespace {

// Logged by etcd 3.4 once its client listener, gRPC gateway included, serves.
constexpr char kReadyMarker[] = "serving insecure client requests on";
constexpr int kStartTries = 3;

bool IsExecutable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// Forks and execs `argv`, stderr into a pipe whose read end is returned in
// *stderr_fd, stdout into `log_fd`. The child dies with the test process.
pid_t Spawn(const std::vector<std::string>& argv, int log_fd, int* stderr_fd) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(pipefd[1], STDERR_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  *stderr_fd = pipefd[0];
  return pid;
}

// Reads `fd` into `log_fd` and *seen until `marker` shows up (true), or EOF,
// an error or `deadline` (false).
bool WaitForMarker(int fd, int log_fd, const std::string& marker, absl::Time deadline,
                   std::string* seen) {
  while (seen->find(marker) == std::string::npos) {
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) return false;
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    [[maybe_unused]] ssize_t w = ::write(log_fd, buf, n);
    seen->append(buf, n);
  }
  return true;
}

}  // namespace

int PickUnusedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string EtcdProcess::BinaryPath() {
  const char* path = std::getenv("PATH");
  if (path != nullptr) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      const std::string candidate = absl::StrCat(dir, "/etcd");
      if (IsExecutable(candidate)) return candidate;
    }
  }
  return IsExecutable("/usr/bin/etcd") ? "/usr/bin/etcd" : "";
}

absl::StatusOr<std::unique_ptr<EtcdProcess>> EtcdProcess::Start(absl::Duration timeout) {
  const std::string binary = BinaryPath();
  if (binary.empty()) return absl::UnavailableError(kNotInstalled);
  auto proc = std::unique_ptr<EtcdProcess>(new EtcdProcess());
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status status;
  for (int attempt = 0; attempt < kStartTries; ++attempt) {
    status = proc->StartOnce(binary, deadline - absl::Now());
    if (status.ok()) return proc;
    if (absl::Now() >= deadline) break;
  }
  return status;
}

absl::Status EtcdProcess::StartOnce(const std::string& binary, absl::Duration timeout) {
  const int client_port = PickUnusedLoopbackPort();
  int peer_port = PickUnusedLoopbackPort();
  for (int i = 0; i < 8 && peer_port == client_port; ++i) peer_port = PickUnusedLoopbackPort();
  if (client_port == 0 || peer_port == 0 || peer_port == client_port) {
    return absl::UnavailableError("no two free loopback ports");
  }
  const std::string client = absl::StrCat("http://127.0.0.1:", client_port);
  const std::string peer = absl::StrCat("http://127.0.0.1:", peer_port);
  const std::string data_dir = dir_.Join(absl::StrCat("data-", client_port));
  const std::vector<std::string> argv = {binary,
                                         "--name=ls-test",
                                         "--data-dir=" + data_dir,
                                         "--listen-client-urls=" + client,
                                         "--advertise-client-urls=" + client,
                                         "--listen-peer-urls=" + peer,
                                         "--initial-advertise-peer-urls=" + peer,
                                         "--initial-cluster=ls-test=" + peer,
                                         "--initial-cluster-state=new"};
  const int log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path()));
  int err_fd = -1;
  const pid_t pid = Spawn(argv, log_fd, &err_fd);
  if (pid < 0) {
    ::close(log_fd);
    return absl::InternalError("cannot start etcd: fork or pipe failed");
  }
  std::string seen;
  if (!WaitForMarker(err_fd, log_fd, kReadyMarker, absl::Now() + timeout, &seen)) {
    int wait_status = 0;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &wait_status, 0);
    ::close(err_fd);
    ::close(log_fd);
    const size_t tail = seen.size() > 3000 ? seen.size() - 3000 : 0;
    return absl::UnavailableError(absl::StrCat(
        binary, " did not serve ", client, " in time; the end of its log:\n", seen.substr(tail)));
  }
  pid_ = pid;
  endpoint_ = client;
  drainer_ = std::thread([err_fd, log_fd] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_fd, buf, sizeof(buf))) > 0) {
      [[maybe_unused]] ssize_t w = ::write(log_fd, buf, n);
    }
    ::close(err_fd);
    ::close(log_fd);
  });
  return absl::OkStatus();
}

void EtcdProcess::Kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (drainer_.joinable()) drainer_.join();
}

EtcdProcess::~EtcdProcess() { Kill(); }

}  // namespace latentsearch::testing

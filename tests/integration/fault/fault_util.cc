#include "tests/integration/fault/fault_util.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/errno_status.h"

namespace latentsearch::fault {
namespace {

int CountEntries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

absl::Status Errno(const std::string& what) { return base::ErrnoToStatus(errno, what); }

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return a;
}

}  // namespace

bool PollUntil(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (absl::Now() > deadline) return false;
    if (i < 100) {
      sched_yield();
    } else {
      ::poll(nullptr, 0, 1);
    }
  }
}

int CountFds(pid_t pid) { return CountEntries(absl::StrCat("/proc/", pid, "/fd")); }
int CountThreads(pid_t pid) { return CountEntries(absl::StrCat("/proc/", pid, "/task")); }

namespace {

std::map<std::string, int> ThreadNameCounts(pid_t pid) {
  std::map<std::string, int> names;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(absl::StrCat(dir, "/", e->d_name, "/comm"));
    std::string name;
    std::getline(f, name);
    ++names[name];
  }
  ::closedir(d);
  return names;
}

}  // namespace

int CountOwnThreads(pid_t pid) {
  int n = 0;
  for (const auto& [name, count] : ThreadNameCounts(pid)) {
    if (!absl::StartsWith(name, "default-executo") && !absl::StartsWith(name, "grpc_global_tim") &&
        !absl::StartsWith(name, "event_engine")) {
      n += count;
    }
  }
  return n;
}

std::string ThreadNames(pid_t pid) {
  const std::map<std::string, int> names = ThreadNameCounts(pid);
  std::string out;
  for (const auto& [name, n] : names) absl::StrAppend(&out, out.empty() ? "" : ", ", name, "x", n);
  return out;
}

std::vector<std::string> FilesContaining(const std::string& dir, const std::string& part) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    if (absl::StrContains(e->d_name, part)) names.push_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

FileWatch::FileWatch(const std::string& dir, std::string part)
    : fd_(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)), part_(std::move(part)) {
  if (fd_ >= 0 && ::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

FileWatch::~FileWatch() {
  if (fd_ >= 0) ::close(fd_);
}

bool FileWatch::Wait(absl::Duration timeout, std::string* name) {
  if (fd_ < 0) return false;
  const absl::Time deadline = absl::Now() + timeout;
  alignas(struct inotify_event) char buf[8192];
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(ms)) <= 0) continue;
    const ssize_t n = ::read(fd_, buf, sizeof(buf));
    for (ssize_t off = 0; off < n;) {
      const auto* e = reinterpret_cast<const struct inotify_event*>(buf + off);
      if (e->len > 0 && absl::StrContains(e->name, part_)) {
        if (name != nullptr) *name = e->name;
        return true;
      }
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + e->len);
    }
  }
}

UnixProxy::UnixProxy(std::string listen_path, std::string target_path)
    : listen_path_(std::move(listen_path)), target_path_(std::move(target_path)) {}

UnixProxy::~UnixProxy() {
  stopping_ = true;
  {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  }
  for (std::thread& t : threads_) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::unlink(listen_path_.c_str());
}

absl::Status UnixProxy::Start() {
  ::unlink(listen_path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Errno("socket");
  sockaddr_un a = UnixAddress(listen_path_);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return Errno("bind");
  if (::listen(listen_fd_, 16) != 0) return Errno("listen");
  threads_.emplace_back([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void UnixProxy::HoldAfter(uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  hold_after_ = bytes;
  held_ = false;
  drop_ = false;
}

bool UnixProxy::WaitHeld(absl::Duration timeout) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, absl::ToChronoMilliseconds(timeout), [this] { return held_; });
}

void UnixProxy::DropHeld() {
  std::lock_guard<std::mutex> l(mu_);
  drop_ = true;
  cv_.notify_all();
}

void UnixProxy::AcceptLoop() {
  std::vector<std::thread> pumps;
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a = UnixAddress(target_path_);
    if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      // The target is down: the client sees the connection close.
      if (server >= 0) ::close(server);
      ::close(client);
      continue;
    }
    ++connections_;
    pumps.emplace_back([this, client, server] { Pump(client, server); });
  }
  for (std::thread& t : pumps) t.join();
}

void UnixProxy::Pump(int client, int server) {
  uint64_t sent = 0;
  char buf[64 << 10];
  while (!stopping_) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, 100) <= 0) continue;
    if (p[0].revents != 0) {
      size_t want = sizeof(buf);
      {
        std::lock_guard<std::mutex> l(mu_);
        if (hold_after_ > 0 && !held_ && hold_after_ > sent) {
          want = std::min<uint64_t>(want, hold_after_ - sent);
        }
      }
      const ssize_t n = ::read(client, buf, want);
      if (n <= 0 || !WriteAll(server, buf, static_cast<size_t>(n))) break;
      sent += static_cast<uint64_t>(n);
      std::unique_lock<std::mutex> l(mu_);
      if (hold_after_ > 0 && !held_ && sent >= hold_after_) {
        held_ = true;
        cv_.notify_all();
        cv_.wait(l, [this] { return drop_ || stopping_.load(); });
        hold_after_ = 0;
        held_ = false;
        drop_ = false;
        break;
      }
    }
    if (p[1].revents != 0) {
      const ssize_t n = ::read(server, buf, sizeof(buf));
      if (n <= 0 || !WriteAll(client, buf, static_cast<size_t>(n))) break;
    }
  }
  ::close(client);
  ::close(server);
}

}  // namespace latentsearch::fault

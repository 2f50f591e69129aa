// A latentsearch-search process for the scale benchmark (search_node.h).
// Thread-safety: as the header says.
#include "tests/bench/scale/search_node.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace latentsearch::bench {
namespace {

std::atomic<pid_t> running_pid{-1};

void OnInterrupt(int signal) {
  const pid_t pid = running_pid.load();
  if (pid > 0) ::kill(pid, SIGKILL);
  ::_exit(128 + signal);
}

}  // namespace

void KillNodeOnInterrupt() {
  for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, OnInterrupt);
}

SearchNode::SearchNode(std::string binary, std::string data_dir, std::string log_dir, int threads)
    : binary_(std::move(binary)),
      data_dir_(std::move(data_dir)),
      log_dir_(std::move(log_dir)),
      threads_(threads) {}

SearchNode::~SearchNode() {
  if (proc_ != nullptr) Stop(SIGKILL);
}

absl::Status SearchNode::Launch() {
  launched_at_ = Clock::now();
  absl::StatusOr<std::unique_ptr<testing::Subprocess>> proc = testing::Subprocess::StartServer(
      {binary_, "--listen=127.0.0.1:0", "--data_dir=" + data_dir_,
       absl::StrCat("--threads=", threads_)},
      absl::StrCat(log_dir_, "/search.", starts_++, ".log"), absl::Minutes(30));
  if (!proc.ok()) return proc.status();
  listening_seconds_ = std::chrono::duration<double>(Clock::now() - launched_at_).count();
  proc_ = std::move(*proc);
  running_pid = proc_->pid();
  address_ = proc_->address();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  stub_ = v1::Search::NewStub(
      grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
  return absl::OkStatus();
}

double SearchNode::Stop(int signal) {
  const Clock::time_point start = Clock::now();
  proc_->Stop(signal);
  running_pid = -1;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  proc_.reset();
  stub_.reset();
  return seconds;
}

uint64_t SearchNode::StatusField(const char* key) const {
  if (proc_ == nullptr) return 0;
  std::ifstream in(absl::StrCat("/proc/", proc_->pid(), "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest(line);
    if (!absl::ConsumePrefix(&rest, key)) continue;
    // "VmRSS:	  123456 kB"
    std::vector<absl::string_view> parts =
        absl::StrSplit(rest, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    uint64_t kb = 0;
    if (!parts.empty() && absl::SimpleAtoi(absl::StripAsciiWhitespace(parts[0]), &kb)) {
      return kb * 1024;
    }
  }
  return 0;
}

uint64_t SearchNode::RssBytes() const { return StatusField("VmRSS:"); }
uint64_t SearchNode::PeakRssBytes() const { return StatusField("VmHWM:"); }

}  // namespace latentsearch::bench

#include "services/trainer/distributed/rendezvous.h"

#include <unistd.h>

#include <chrono>
#include <random>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"

namespace latentsearch::trainer::distributed {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(100);

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string Text(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

std::string FirstLine(const char* what) {
  std::string s(what);
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::chrono::milliseconds Millis(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

// A hello: "world_size\nfingerprint\nsession".
struct HelloFields {
  std::string world_size, fingerprint, session;
};
HelloFields ParseHello(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, absl::MaxSplits('\n', 2));
  parts.resize(3);
  return {parts[0], parts[1], parts[2]};
}

}  // namespace

Rendezvous::Rendezvous(const GroupConfig& config, c10::intrusive_ptr<c10d::Store> store,
                       c10::intrusive_ptr<c10d::Store> heartbeat_store, int port)
    : config_(config), store_(std::move(store)), port_(port), session_([] {
        char host[256] = {0};
        gethostname(host, sizeof(host) - 1);
        return absl::StrCat(host, ":", getpid(), ":", std::random_device()() & 0xffffff);
      }()) {
  heartbeat_ = std::make_shared<Heartbeat>(std::move(heartbeat_store), config_.rank,
                                           config_.heartbeat_period);
}

std::string Rendezvous::Key(int64_t generation, const std::string& name) {
  return absl::StrCat("g", generation, "/", name);
}

absl::StatusOr<std::unique_ptr<Rendezvous>> Rendezvous::Connect(const GroupConfig& config) {
  const std::string where = absl::StrCat(config.master_addr, ":", config.master_port);
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(config.master_port);
    o.isServer = config.rank == 0;
    o.waitWorkers = false;
    o.timeout = Millis(config.rendezvous_timeout);
    auto store = c10::make_intrusive<c10d::TCPStore>(config.master_addr, o);
    const int port = store->getPort();
    c10d::TCPStoreOptions client = o;
    client.isServer = false;
    client.port = static_cast<uint16_t>(port);
    auto beat = c10::make_intrusive<c10d::TCPStore>(config.master_addr, client);
    return std::unique_ptr<Rendezvous>(new Rendezvous(config, store, beat, port));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        config.rank == 0 ? "rank 0 cannot serve the group's store on " : "cannot reach rank 0 at ",
        where, " within ", absl::FormatDuration(config.rendezvous_timeout), ": ",
        FirstLine(e.what())));
  }
}

std::unique_ptr<Rendezvous> Rendezvous::OverStore(const GroupConfig& config,
                                                  c10::intrusive_ptr<c10d::Store> store) {
  return std::unique_ptr<Rendezvous>(new Rendezvous(config, store, store, config.master_port));
}

std::string Rendezvous::Hello() const {
  return absl::StrCat(config_.world_size, "\n", config_.fingerprint, "\n", session_);
}

int64_t Rendezvous::OpenGeneration() { return store_->add("gen", 1); }

bool Rendezvous::RejoinRequested() {
  for (int r = 1; r < config_.world_size && r < static_cast<int>(member_sessions_.size()); ++r) {
    const std::string key = absl::StrCat("rejoin/", r);
    if (store_->check({key}) && Text(store_->get(key)) != member_sessions_[r]) return true;
  }
  return false;
}

void Rendezvous::AnnounceShutdown() {
  try {
    store_->set("shutdown", Bytes("1"));
  } catch (const std::exception& e) {
    LOG(WARNING) << "group shutdown not announced: " << FirstLine(e.what());
  }
}

absl::StatusOr<int64_t> Rendezvous::JoinableGeneration(const std::function<bool()>& keep_waiting) {
  bool asked = false;
  try {
    while (keep_waiting()) {
      const int64_t g = store_->add("gen", 0);
      if (g > 0 && !store_->check({Key(g, "verdict")})) return g;
      if (g > 0 && !asked) {
        LOG(INFO) << "rank " << config_.rank << ": generation " << g
                  << " is already formed; asking rank 0 for a new one";
        store_->set(absl::StrCat("rejoin/", config_.rank), Bytes(session_));
        asked = true;
      }
      absl::SleepFor(kPoll);
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank 0 at ", config_.master_addr, ":", port_,
                                               " is unreachable: ", FirstLine(e.what())));
  }
  return absl::CancelledError("stopped waiting for a group to join");
}

std::string Rendezvous::Judge(int64_t g, absl::Status* status) {
  const absl::Time deadline = absl::Now() + config_.rendezvous_timeout;
  std::vector<int> missing;
  do {
    missing.clear();
    for (int r = 1; r < config_.world_size; ++r) {
      if (!store_->check({Key(g, absl::StrCat("hello/", r))})) missing.push_back(r);
    }
    if (missing.empty() || absl::Now() >= deadline) break;
    absl::SleepFor(kPoll);
  } while (true);
  if (!missing.empty()) {
    *status = absl::UnavailableError(absl::StrCat(
        "world size ", config_.world_size, ": rank(s) ", absl::StrJoin(missing, ", "),
        " did not join within ", absl::FormatDuration(config_.rendezvous_timeout),
        " (check WORLD_SIZE/--world_size on every rank, and that those ranks run and reach ",
        config_.master_addr, ":", port_, ")"));
    return std::string(status->message());
  }
  member_sessions_.assign(static_cast<size_t>(config_.world_size), session_);
  for (int r = 1; r < config_.world_size; ++r) {
    const HelloFields h = ParseHello(Text(store_->get(Key(g, absl::StrCat("hello/", r)))));
    member_sessions_[r] = h.session;
    std::string problem;
    if (store_->add(Key(g, absl::StrCat("claim/", r)), 0) > 1) {
      problem = absl::StrCat("two processes claim rank ", r, " (check RANK/--rank)");
    } else if (h.world_size != absl::StrCat(config_.world_size)) {
      problem = absl::StrCat("rank ", r, " was started with world size ", h.world_size,
                             ", rank 0 with ", config_.world_size);
    } else if (h.fingerprint != config_.fingerprint) {
      problem = absl::StrCat("rank ", r, "'s trainer config differs from rank 0's (rank ", r, ": '",
                             h.fingerprint, "', rank 0: '", config_.fingerprint, "')");
    }
    if (!problem.empty()) {
      *status = absl::FailedPreconditionError(problem);
      return problem;
    }
  }
  return "";
}

absl::Status Rendezvous::AwaitVerdict(int64_t g) {
  // No deadline: rank 0 judges when it starts and, after a failure, at the
  // next job; it is the one that times out when ranks are missing.
  absl::Time next_log = absl::Now() + config_.rendezvous_timeout;
  while (!store_->check({Key(g, "verdict")})) {
    if (absl::Now() >= next_log) {
      LOG(WARNING) << "rank " << config_.rank << ": still waiting for rank 0 at "
                   << config_.master_addr << ":" << port_
                   << " to admit this rank (it forms the group at its start and, after a "
                      "failure, at its next job)";
      next_log = absl::Now() + config_.rendezvous_timeout;
    }
    absl::SleepFor(kPoll);
  }
  const std::string verdict = Text(store_->get(Key(g, "verdict")));
  store_->add(Key(g, "verdict_read"), 1);
  const std::string ok = absl::StrCat("ok ", config_.world_size);
  if (verdict == ok) return absl::OkStatus();
  if (absl::StartsWith(verdict, "ok ")) {
    return absl::FailedPreconditionError(
        absl::StrCat("rank 0 formed a group of world size ", verdict.substr(3), " without rank ",
                     config_.rank, "; this rank was started with world size ", config_.world_size));
  }
  return absl::FailedPreconditionError(absl::StrCat("rank 0 refused the group: ", verdict));
}

absl::StatusOr<std::unique_ptr<GlooCollective>> Rendezvous::Form(int64_t g) {
  try {
    if (config_.rank == 0) {
      absl::Status status;
      const std::string problem = Judge(g, &status);
      store_->set(Key(g, "verdict"),
                  Bytes(problem.empty() ? absl::StrCat("ok ", config_.world_size) : problem));
      if (!problem.empty()) {
        // Let the ranks that said hello read why before this process (and
        // the store with it) may exit.
        int present = 0;
        for (int r = 1; r < config_.world_size; ++r) {
          present += store_->check({Key(g, absl::StrCat("hello/", r))}) ? 1 : 0;
        }
        const absl::Time until = absl::Now() + absl::Seconds(5);
        while (store_->add(Key(g, "verdict_read"), 0) < present && absl::Now() < until) {
          absl::SleepFor(kPoll);
        }
        return status;
      }
    } else {
      const int64_t claims = store_->add(Key(g, absl::StrCat("claim/", config_.rank)), 1);
      if (claims > 1) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rank ", config_.rank, " is already claimed by another process (check RANK/--rank)"));
      }
      store_->set(Key(g, absl::StrCat("hello/", config_.rank)), Bytes(Hello()));
      if (absl::Status s = AwaitVerdict(g); !s.ok()) return s;
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("the group's store at ", config_.master_addr, ":",
                                               port_, " failed: ", FirstLine(e.what())));
  }
  return MakeGroup(g);
}

absl::StatusOr<std::unique_ptr<GlooCollective>> Rendezvous::MakeGroup(int64_t g) {
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(Millis(config_.collective_timeout));
    options->devices = {c10d::ProcessGroupGloo::createDeviceForHostname(config_.host)};
    options->threads = 2;
    auto prefix = c10::make_intrusive<c10d::PrefixStore>(Key(g, "pg"), store_);
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefix, config_.rank, config_.world_size,
                                                          options);
    GlooCollectiveOptions co;
    co.bucket_bytes = config_.bucket_bytes;
    co.probe = config_.probe;
    LOG(INFO) << "rank " << config_.rank << " of " << config_.world_size << ": group generation "
              << g << " formed (Gloo on " << config_.host << ")";
    return std::make_unique<GlooCollective>(pg, store_, heartbeat_, config_.rank,
                                            config_.world_size, co);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", config_.rank,
                                               ": Gloo could not connect the group (host '",
                                               config_.host, "'): ", FirstLine(e.what())));
  }
}

}  // namespace latentsearch::trainer::distributed

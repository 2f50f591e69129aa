#include "services/trainer/distributed/gloo_collective.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/base/logging.h"

namespace latentsearch::trainer::distributed {
namespace {

using torch::Tensor;

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string HeartbeatKey(int rank) { return absl::StrCat("hb/", rank); }

// The first line of a c10::Error's text (the rest is a C++ backtrace).
std::string FirstLine(const char* what) {
  std::string s(what);
  const size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// (beats, collectives started) of `rank`, or (-1, -1) when it never beat.
std::pair<int64_t, int64_t> ReadBeat(c10d::Store& store, int rank) {
  const std::string key = HeartbeatKey(rank);
  if (!store.check({key})) return {-1, -1};
  const std::vector<uint8_t> v = store.get(key);
  std::pair<std::string, std::string> parts =
      absl::StrSplit(std::string(v.begin(), v.end()), absl::MaxSplits(':', 1));
  std::pair<int64_t, int64_t> out{-1, -1};
  if (!absl::SimpleAtoi(parts.first, &out.first) || !absl::SimpleAtoi(parts.second, &out.second)) {
    return {-1, -1};
  }
  return out;
}

}  // namespace

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank, absl::Duration period)
    : store_(std::move(store)), rank_(rank), period_(period) {
  thread_ = std::thread([this] { Loop(); });
}

Heartbeat::~Heartbeat() {
  stop_.Notify();
  thread_.join();
}

void Heartbeat::Loop() {
  int64_t beats = 0;
  do {
    try {
      store_->set(HeartbeatKey(rank_), Bytes(absl::StrCat(++beats, ":", progress_.load())));
    } catch (const std::exception& e) {
      LOG(WARNING) << "rank " << rank_ << ": heartbeat not published: " << FirstLine(e.what());
    }
  } while (!stop_.WaitForNotificationWithTimeout(period_));
}

GlooCollective::GlooCollective(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg,
                               c10::intrusive_ptr<c10d::Store> store,
                               std::shared_ptr<Heartbeat> heartbeat, int rank, int world_size,
                               const GlooCollectiveOptions& options)
    : pg_(std::move(pg)),
      store_(std::move(store)),
      heartbeat_(std::move(heartbeat)),
      rank_(rank),
      world_size_(world_size),
      options_(options) {}

std::string GlooCollective::Probe() {
  std::vector<std::pair<int64_t, int64_t>> first(world_size_), second(world_size_);
  try {
    for (int r = 0; r < world_size_; ++r) first[r] = r == rank_ ? first[r] : ReadBeat(*store_, r);
    absl::SleepFor(options_.probe);
    for (int r = 0; r < world_size_; ++r) second[r] = r == rank_ ? second[r] : ReadBeat(*store_, r);
  } catch (const std::exception& e) {
    return absl::StrCat("rank 0 (which holds the group's store) is unreachable (",
                        FirstLine(e.what()), ")");
  }
  std::vector<int> stopped, behind;
  for (int r = 0; r < world_size_; ++r) {
    if (r == rank_) continue;
    if (second[r].first < 0 || second[r].first == first[r].first) {
      stopped.push_back(r);
    } else if (second[r].second < started_) {
      behind.push_back(r);
    }
  }
  if (!stopped.empty()) {
    return absl::StrCat(stopped.size() == 1 ? "rank " : "ranks ", absl::StrJoin(stopped, ", "),
                        " stopped responding (no heartbeat for ",
                        absl::FormatDuration(options_.probe), ": the process died or is frozen)");
  }
  if (!behind.empty()) {
    return absl::StrCat(behind.size() == 1 ? "rank " : "ranks ", absl::StrJoin(behind, ", "),
                        " hung (alive but ", started_ - second[behind[0]].second,
                        " collective(s) behind rank ", rank_, ")");
  }
  return "no rank found at fault by the heartbeats";
}

absl::Status GlooCollective::Run(const char* what, const std::function<void()>& op) {
  if (broken_) return absl::FailedPreconditionError("the group of ranks is broken");
  heartbeat_->SetProgress(++started_);
  try {
    op();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    broken_ = true;
    const std::string error = FirstLine(e.what());
    LOG(WARNING) << "rank " << rank_ << ": " << what << " failed: " << error;
    return absl::UnavailableError(
        absl::StrCat(Probe(), "; ", what, " failed on rank ", rank_, ": ", error));
  }
}

absl::Status GlooCollective::Broadcast(const std::vector<Tensor>& tensors) {
  return Run("broadcast", [&] {
    torch::NoGradGuard no_grad;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<std::vector<Tensor>> bufs;
    bufs.reserve(tensors.size());
    for (const Tensor& t : tensors) {
      bufs.push_back({t.is_contiguous() ? t.detach() : t.detach().contiguous()});
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      works.push_back(pg_->broadcast(bufs.back(), o));
    }
    for (size_t i = 0; i < works.size(); ++i) {
      works[i]->wait();
      if (!tensors[i].is_contiguous()) tensors[i].detach().copy_(bufs[i][0]);
    }
  });
}

absl::Status GlooCollective::BroadcastBytes(std::string* bytes) {
  return Run("broadcast of bytes", [&] {
    std::vector<Tensor> size = {torch::tensor(static_cast<int64_t>(bytes->size()))};
    c10d::BroadcastOptions o;
    o.rootRank = 0;
    pg_->broadcast(size, o)->wait();
    const int64_t n = size[0].item<int64_t>();
    if (n == 0) {
      bytes->clear();
      return;
    }
    std::vector<Tensor> data = {rank_ == 0 ? torch::from_blob(bytes->data(), {n}, torch::kUInt8)
                                           : torch::empty({n}, torch::kUInt8)};
    pg_->broadcast(data, o)->wait();
    if (rank_ != 0) bytes->assign(static_cast<const char*>(data[0].data_ptr()), n);
  });
}

absl::Status GlooCollective::AverageGradients(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  const absl::Time start = absl::Now();
  uint64_t bytes = 0;
  int buckets = 0;
  absl::Status s = Run("gradient all-reduce", [&] {
    torch::NoGradGuard no_grad;
    // Buckets of consecutive gradients; all launched before any is waited
    // for, so Gloo overlaps their transfers.
    std::vector<std::pair<size_t, size_t>> ranges;  // [first, last) of grads.
    for (size_t i = 0; i < grads.size();) {
      size_t j = i, size = 0;
      while (j < grads.size() && (j == i || size + grads[j].nbytes() <= options_.bucket_bytes)) {
        size += grads[j++].nbytes();
      }
      ranges.emplace_back(i, j);
      i = j;
    }
    std::vector<std::vector<Tensor>> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& [first, last] : ranges) {
      std::vector<Tensor> parts;
      for (size_t k = first; k < last; ++k) parts.push_back(grads[k].reshape(-1));
      flats.push_back({torch::cat(parts)});
      bytes += flats.back()[0].nbytes();
      works.push_back(pg_->allreduce(flats.back()));
    }
    buckets = static_cast<int>(works.size());
    for (size_t b = 0; b < works.size(); ++b) {
      works[b]->wait();  // The sum is complete only now: divide after the wait.
      Tensor flat = flats[b][0].div_(world_size_);
      int64_t offset = 0;
      for (size_t k = ranges[b].first; k < ranges[b].second; ++k) {
        const int64_t n = grads[k].numel();
        grads[k].copy_(flat.narrow(0, offset, n).view(grads[k].sizes()));
        offset += n;
      }
    }
  });
  stats_.seconds += absl::ToDoubleSeconds(absl::Now() - start);
  stats_.bytes += bytes;
  stats_.calls += buckets;
  return s;
}

absl::StatusOr<std::vector<double>> GlooCollective::AllGather(const std::vector<double>& values) {
  const int64_t k = static_cast<int64_t>(values.size());
  std::vector<double> out(static_cast<size_t>(k * world_size_));
  absl::Status s = Run("all-gather", [&] {
    std::vector<Tensor> in = {torch::tensor(values, torch::kDouble)};
    std::vector<std::vector<Tensor>> gathered(1);
    for (int r = 0; r < world_size_; ++r) gathered[0].push_back(torch::empty({k}, torch::kDouble));
    pg_->allgather(gathered, in)->wait();
    for (int r = 0; r < world_size_; ++r) {
      std::copy(gathered[0][r].data_ptr<double>(), gathered[0][r].data_ptr<double>() + k,
                out.begin() + r * k);
    }
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<std::string>> GlooCollective::AllGatherStrings(const std::string& text) {
  absl::StatusOr<std::vector<double>> sizes = AllGather({static_cast<double>(text.size())});
  if (!sizes.ok()) return sizes.status();
  const int64_t longest = static_cast<int64_t>(*std::max_element(sizes->begin(), sizes->end()));
  std::vector<std::string> out(static_cast<size_t>(world_size_));
  if (longest == 0) return out;
  absl::Status s = Run("all-gather of text", [&] {
    std::string padded = text;
    padded.resize(static_cast<size_t>(longest));
    std::vector<Tensor> in = {torch::from_blob(padded.data(), {longest}, torch::kUInt8)};
    std::vector<std::vector<Tensor>> gathered(1);
    for (int r = 0; r < world_size_; ++r) {
      gathered[0].push_back(torch::empty({longest}, torch::kUInt8));
    }
    pg_->allgather(gathered, in)->wait();
    for (int r = 0; r < world_size_; ++r) {
      out[r].assign(static_cast<const char*>(gathered[0][r].data_ptr()),
                    static_cast<size_t>((*sizes)[r]));
    }
  });
  if (!s.ok()) return s;
  return out;
}

AllreduceStats GlooCollective::TakeStats() {
  AllreduceStats s = stats_;
  stats_ = AllreduceStats();
  return s;
}

}  // namespace latentsearch::trainer::distributed

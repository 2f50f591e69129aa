// The router's write fan-out (router_write.h).
// Thread-safety: one WriteState per write, its state under its mutex.
#include "services/search/cluster/router_write.h"

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/base/logging.h"
#include "common/cluster/consistency.h"
#include "common/cluster/shard_hash.h"
#include "services/search/cluster/router_shard_read.h"

namespace latentsearch::search::cluster {
namespace {

using ::latentsearch::cluster::ConsistencyLevelName;
using ::latentsearch::cluster::RequiredAcks;
using ::latentsearch::cluster::ShardOf;

bool Counts(v1::ReplicaRole role) {
  return role == v1::REPLICA_ROLE_ACTIVE || role == v1::REPLICA_ROLE_LEAVING;
}

// One shard request and how its replicas answered.
struct Unit {
  ShardWrite write;
  uint32_t need = 0;
  uint32_t acks = 0;
  // ACTIVE and LEAVING replicas, and their calls not answered yet.
  uint32_t counted = 0;
  uint32_t pending = 0;
  bool satisfied = false;
  std::vector<std::string> acked;
  std::vector<std::string> errors;
  std::optional<v1::ShardWriteResponse> first;
  // Its ShardWriteStats went to the hook.
  bool observed = false;
};

// One call to one replica.
struct Call {
  size_t unit = 0;
  std::string node;
  bool counts = false;
  bool finished = false;
  Cancellation cancel;
};

class WriteState : public std::enable_shared_from_this<WriteState> {
 public:
  WriteState(const RouterContext& ctx, std::string collection, v1::ConsistencyLevel level,
             WriteFanout::Done done)
      : ctx_(ctx),
        token_(ctx.ops->Hold()),
        collection_(std::move(collection)),
        level_(level),
        done_(std::move(done)) {}

  // Sets up the units and calls; UNAVAILABLE when some shard cannot get
  // enough acknowledgements even before sending.
  absl::Status Plan(const v1::CollectionPlacement& placement, std::vector<ShardWrite> writes);
  void Send();

 private:
  void OnReply(size_t index, absl::StatusOr<v1::ShardWriteResponse> r);
  // Whether the write is decided now; sets *result.
  bool Decide(Unit& unit, const absl::Status& verdict, absl::StatusOr<WriteAcks>* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Refusal(const Unit& unit) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels the calls still running one refresh interval after the answer.
  void CancelLate();

  const RouterContext ctx_;
  const std::shared_ptr<void> token_;
  const std::string collection_;
  const v1::ConsistencyLevel level_;
  absl::Mutex mu_;
  absl::Time sent_at_ ABSL_GUARDED_BY(mu_);
  WriteFanout::Done done_ ABSL_GUARDED_BY(mu_);
  bool decided_ ABSL_GUARDED_BY(mu_) = false;
  size_t satisfied_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Unit> units_ ABSL_GUARDED_BY(mu_);
  // A deque: Cancellations must not move.
  std::deque<Call> calls_ ABSL_GUARDED_BY(mu_);
};

absl::Status WriteState::Plan(const v1::CollectionPlacement& placement,
                              std::vector<ShardWrite> writes) {
  absl::MutexLock lock(&mu_);
  const uint32_t need = RequiredAcks(level_, placement.spec().replication_factor());
  for (ShardWrite& w : writes) {
    Unit unit;
    unit.need = need;
    const size_t u = units_.size();
    if (w.shard < static_cast<uint32_t>(placement.shards_size())) {
      for (const v1::ReplicaPlacement& r : placement.shards(w.shard).replicas()) {
        calls_.emplace_back();
        calls_.back().unit = u;
        calls_.back().node = r.node();
        calls_.back().counts = Counts(r.role());
        unit.pending += Counts(r.role()) ? 1 : 0;
        unit.counted += Counts(r.role()) ? 1 : 0;
      }
    }
    if (unit.pending < need) {
      return absl::UnavailableError(
          absl::StrCat("shard ", w.shard, " of collection '", collection_, "' has ", unit.pending,
                       " ACTIVE or LEAVING replicas; ", ConsistencyLevelName(level_), " needs ",
                       need, ": nothing was written"));
    }
    unit.write = std::move(w);
    units_.push_back(std::move(unit));
  }
  return absl::OkStatus();
}

void WriteState::Send() {
  const absl::Time deadline = absl::Now() + ctx_.options->write_timeout;
  std::vector<
      std::tuple<size_t, std::string, std::shared_ptr<const v1::ShardWriteRequest>, Cancellation*>>
      sends;
  {
    absl::MutexLock lock(&mu_);
    sent_at_ = absl::Now();
    for (size_t i = 0; i < calls_.size(); ++i) {
      sends.emplace_back(i, calls_[i].node, units_[calls_[i].unit].write.request,
                         &calls_[i].cancel);
    }
  }
  auto self = shared_from_this();
  for (auto& [index, node, request, cancel] : sends) {
    absl::StatusOr<std::shared_ptr<NodeClient>> client = ctx_.view->Client(node);
    if (!client.ok()) {
      OnReply(index, client.status());
      continue;
    }
    (*client)->Write(request, deadline, cancel,
                     [self, index = index](absl::StatusOr<v1::ShardWriteResponse> r) {
                       self->OnReply(index, std::move(r));
                     });
  }
}

void WriteState::OnReply(size_t index, absl::StatusOr<v1::ShardWriteResponse> r) {
  WriteFanout::Done done;
  absl::StatusOr<WriteAcks> result;
  std::string node;
  uint32_t shard;
  std::optional<ShardWriteStats> stats;
  {
    absl::MutexLock lock(&mu_);
    Call& call = calls_[index];
    call.finished = true;
    node = call.node;
    Unit& unit = units_[call.unit];
    shard = unit.write.shard;
    if (call.counts) --unit.pending;
    if (r.ok() && call.counts) {
      ++unit.acks;
      unit.acked.push_back(node);
      if (!unit.first) unit.first = *r;
    } else if (!r.ok()) {
      unit.errors.push_back(DescribeReplicaError(node, r.status()));
    }
    const absl::Status verdict =
        !r.ok() && absl::IsInvalidArgument(r.status()) ? r.status() : absl::OkStatus();
    if (!decided_ && Decide(unit, verdict, &result)) {
      decided_ = true;
      done = std::move(done_);
    }
    const bool met = unit.acks >= unit.need;
    if (!unit.observed && (met || unit.acks + unit.pending < unit.need || !verdict.ok())) {
      unit.observed = true;
      stats = ShardWriteStats{collection_, shard, absl::Now() - sent_at_,
                              met            ? absl::StatusCode::kOk
                              : verdict.ok() ? absl::StatusCode::kUnavailable
                                             : verdict.code()};
    }
  }
  if (stats && ctx_.options->on_shard_write) ctx_.options->on_shard_write(*stats);
  if (!r.ok() && !absl::IsInvalidArgument(r.status())) {
    ctx_.view->ReportFailedWrite(collection_, shard, node, r.status().ToString());
  }
  if (!done) return;
  // Weak: the state lives while calls run; the timer need not keep it.
  std::weak_ptr<WriteState> weak = weak_from_this();
  ctx_.timer->RunAt(absl::Now() + ctx_.options->refresh_interval, [weak] {
    if (std::shared_ptr<WriteState> self = weak.lock()) self->CancelLate();
  });
  done(std::move(result));
}

bool WriteState::Decide(Unit& unit, const absl::Status& verdict,
                        absl::StatusOr<WriteAcks>* result) {
  if (!verdict.ok()) {
    *result = verdict;
    return true;
  }
  if (!unit.satisfied && unit.acks >= unit.need) {
    unit.satisfied = true;
    ++satisfied_;
  }
  if (!unit.satisfied && unit.acks + unit.pending < unit.need) {
    *result = absl::UnavailableError(Refusal(unit));
    return true;
  }
  if (satisfied_ < units_.size()) return false;
  WriteAcks acks;
  for (const Unit& u : units_) acks.emplace_back(u.write.shard, *u.first);
  *result = std::move(acks);
  return true;
}

std::string WriteState::Refusal(const Unit& unit) const {
  std::vector<std::string> late;
  for (const Call& c : calls_) {
    if (&units_[c.unit] == &unit && !c.finished) late.push_back(c.node);
  }
  return absl::StrCat(
      "shard ", unit.write.shard, " of collection '", collection_, "': ", unit.acks, " of ",
      unit.counted, " replicas acknowledged the write",
      unit.acked.empty() ? "" : absl::StrCat(" (", absl::StrJoin(unit.acked, ", "), ")"), "; ",
      ConsistencyLevelName(level_), " needs ", unit.need, ". ", absl::StrJoin(unit.errors, "; "),
      late.empty() ? "" : absl::StrCat("; not answered yet: ", absl::StrJoin(late, ", ")),
      ". The write may be partially applied; retrying it is safe");
}

void WriteState::CancelLate() {
  std::vector<Cancellation*> late;
  {
    absl::MutexLock lock(&mu_);
    for (Call& c : calls_) {
      if (!c.finished) late.push_back(&c.cancel);
    }
  }
  // Their calls end CANCELLED: reported as failed writes in OnReply.
  for (Cancellation* c : late) c->Cancel();
}

}  // namespace

std::vector<ShardWrite> SplitByShard(const std::string& collection, uint32_t shards,
                                     std::vector<v1::VersionedItem> items) {
  std::map<uint32_t, std::vector<std::shared_ptr<v1::ShardWriteRequest>>> by_shard;
  std::map<uint32_t, size_t> bytes;
  for (v1::VersionedItem& item : items) {
    const uint32_t shard = ShardOf(item.item().id(), shards);
    auto& requests = by_shard[shard];
    const size_t size = item.ByteSizeLong() + 8;
    if (requests.empty() || bytes[shard] + size > kMaxShardWriteBytes) {
      requests.push_back(std::make_shared<v1::ShardWriteRequest>());
      requests.back()->mutable_ref()->set_collection(collection);
      requests.back()->mutable_ref()->set_shard(shard);
      bytes[shard] = 64;
    }
    bytes[shard] += size;
    *requests.back()->add_items() = std::move(item);
  }
  std::vector<ShardWrite> out;
  for (auto& [shard, requests] : by_shard) {
    for (auto& r : requests) out.push_back({shard, std::move(r)});
  }
  return out;
}

void WriteFanout::Start(const RouterContext& ctx, const v1::CollectionPlacement& placement,
                        v1::ConsistencyLevel level, std::vector<ShardWrite> writes, Done done) {
  if (writes.empty()) {
    done(WriteAcks());
    return;
  }
  if (ctx.options->on_write_refused) {
    done = [done = std::move(done), name = placement.spec().name(),
            hook = &ctx.options->on_write_refused](absl::StatusOr<WriteAcks> r) {
      if (absl::IsUnavailable(r.status())) (*hook)(name);
      done(std::move(r));
    };
  }
  auto state = std::make_shared<WriteState>(ctx, placement.spec().name(), level, done);
  if (absl::Status s = state->Plan(placement, std::move(writes)); !s.ok()) {
    done(s);  // Nothing was sent: the state's own `done` never runs.
    return;
  }
  state->Send();
}

}  // namespace latentsearch::search::cluster

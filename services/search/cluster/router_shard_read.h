// A read from one shard: the same SearchNode call on the shard's replicas in
// the cluster view's read order until one answers. A replica that fails
// (UNAVAILABLE, DEADLINE_EXCEEDED, NOT_FOUND for a replica it lacks, ...)
// is replaced by the next at once; one that has not answered within the
// hedge delay gets a second call on the next replica beside it, and the
// first answer wins (the others are cancelled). The node's verdicts on the
// request itself (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE) end
// the read with that status, a failure after the deadline passed ends it
// DEADLINE_EXCEEDED, and when no replica answers it ends UNAVAILABLE naming
// the shard and what every replica said.
//
// CancelGroup gathers the Cancellations of one client call's node calls, so
// that the call's single Cancellation (cancellation.h) cancels them all.
//
// Thread-safety: thread-safe; `done` runs once, on whichever thread
// delivered the deciding answer (or inline in Start).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SHARD_READ_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SHARD_READ_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/base/logging.h"
#include "services/search/cancellation.h"
#include "services/search/cluster/router_context.h"

namespace latentsearch::search::cluster {

class CancelGroup {
 public:
  // A new member, owned by the group; already cancelled when the group is.
  Cancellation* Add();
  // Cancels every member, and every later one.
  void CancelAll();
  bool cancelled() const;

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::unique_ptr<Cancellation>> members_ ABSL_GUARDED_BY(mu_);
};

// True for a node's answer that another replica may not change.
bool IsVerdictOnRequest(const absl::Status& status);

// "node a: <status>" unless the status names the node already.
std::string DescribeReplicaError(const std::string& node, const absl::Status& status);

template <typename Response>
class ShardRead : public std::enable_shared_from_this<ShardRead<Response>> {
 public:
  // Starts the call on `client` for one replica.
  using Call = std::function<void(NodeClient& client, absl::Time deadline, Cancellation* cancel,
                                  NodeClient::Done<Response> done)>;
  using Done = std::function<void(absl::StatusOr<Response>)>;

  // `order`: the replicas (nodes) to try; `collection`, `shard` and `rpc`
  // name the read in messages and stats; `cancels`: the client call's
  // group.
  static void Start(const RouterContext& ctx, std::vector<std::string> order,
                    const std::string& collection, uint32_t shard, const char* rpc, Call call,
                    absl::Time deadline, std::shared_ptr<CancelGroup> cancels, Done done) {
    ShardReadStats stats;
    stats.collection = collection;
    stats.shard = shard;
    stats.rpc = rpc;
    std::shared_ptr<ShardRead> read(new ShardRead(ctx, std::move(order), std::move(stats),
                                                  std::move(call), deadline, std::move(cancels),
                                                  std::move(done)));
    if (read->order_.empty()) {
      Done d = std::move(read->done_);
      d(absl::UnavailableError(
          absl::StrCat(read->what_,
                       " has no replica to read from (none is ACTIVE or LEAVING "
                       "outside the router's resyncing set)")));
      return;
    }
    read->Launch();
  }

 private:
  struct Attempt {
    std::string node;
    Cancellation* cancel = nullptr;
    bool answered = false;
  };

  ShardRead(const RouterContext& ctx, std::vector<std::string> order, ShardReadStats stats,
            Call call, absl::Time deadline, std::shared_ptr<CancelGroup> cancels, Done done)
      : ctx_(ctx),
        token_(ctx.ops->Hold()),
        order_(std::move(order)),
        what_(absl::StrCat("shard ", stats.shard, " of collection '", stats.collection, "'")),
        stats_(std::move(stats)),
        call_(std::move(call)),
        deadline_(deadline),
        cancels_(std::move(cancels)),
        done_(std::move(done)) {}

  // Calls the next replica (with a hedge timer when another one remains).
  void Launch() {
    size_t index;
    bool more;
    std::string node;
    Cancellation* cancel;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || next_ >= order_.size()) return;
      index = attempts_.size();
      node = order_[next_++];
      cancel = cancels_->Add();
      attempts_.push_back({node, cancel, false});
      ++outstanding_;
      more = next_ < order_.size();
    }
    absl::StatusOr<std::shared_ptr<NodeClient>> client = ctx_.view->Client(node);
    if (!client.ok()) {
      OnReply(index, client.status());
      return;
    }
    auto self = this->shared_from_this();
    if (more && ctx_.options->hedge_delay > absl::ZeroDuration()) {
      ctx_.timer->RunAt(absl::Now() + ctx_.options->hedge_delay,
                        [self, index] { self->OnHedge(index); });
    }
    call_(**client, deadline_, cancel,
          [self, index](absl::StatusOr<Response> r) { self->OnReply(index, std::move(r)); });
  }

  // The attempt has not answered in time: try the next replica beside it.
  void OnHedge(size_t index) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || attempts_[index].answered || index + 1 != attempts_.size()) return;
      VLOG(1) << what_ << ": hedging after " << attempts_[index].node << " took longer than "
              << absl::FormatDuration(ctx_.options->hedge_delay);
      ++hedges_;
    }
    Launch();
  }

  void OnReply(size_t index, absl::StatusOr<Response> r) {
    enum { kWait, kRetry, kFinish } action = kFinish;
    Done done;
    std::vector<Cancellation*> losers;
    {
      absl::MutexLock lock(&mu_);
      Attempt& attempt = attempts_[index];
      attempt.answered = true;
      --outstanding_;
      if (finished_) return;
      if (!r.ok() && absl::Now() >= deadline_) {
        // No time for another replica.
        r = absl::DeadlineExceededError(
            absl::StrCat("the deadline passed before ", what_,
                         " answered: ", DescribeReplicaError(attempt.node, r.status())));
      } else if (!r.ok() && !IsVerdictOnRequest(r.status()) && !cancels_->cancelled()) {
        const std::string error = DescribeReplicaError(attempt.node, r.status());
        errors_.push_back(error);
        action = next_ < order_.size() ? kRetry : outstanding_ > 0 ? kWait : kFinish;
        LOG(WARNING) << what_ << ": " << error
                     << (action == kRetry ? "; trying the next replica" : "");
        if (action == kFinish) {
          r = absl::UnavailableError(
              absl::StrCat("no replica of ", what_, " answered: ", absl::StrJoin(errors_, "; ")));
        }
      }
      if (action == kFinish) {
        finished_ = true;
        done = std::move(done_);
        for (const Attempt& a : attempts_) {
          if (!a.answered) losers.push_back(a.cancel);
        }
      }
    }
    if (action == kRetry) Launch();
    if (action != kFinish) return;
    for (Cancellation* c : losers) c->Cancel();
    Report(r.status());
    done(std::move(r));
  }

  // The stats hook, once the read is decided.
  void Report(const absl::Status& status) {
    if (!ctx_.options->on_shard_read) return;
    ShardReadStats stats = stats_;
    stats.latency = absl::Now() - start_;
    {
      absl::MutexLock lock(&mu_);
      stats.attempts = static_cast<int>(attempts_.size());
      stats.hedges = hedges_;
      stats.hedged = hedges_ > 0;
    }
    stats.code = status.code();
    ctx_.options->on_shard_read(stats);
  }

  const RouterContext ctx_;
  const std::shared_ptr<void> token_;
  const std::vector<std::string> order_;
  const std::string what_;
  const ShardReadStats stats_;
  const absl::Time start_ = absl::Now();
  const Call call_;
  const absl::Time deadline_;
  const std::shared_ptr<CancelGroup> cancels_;
  absl::Mutex mu_;
  Done done_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Attempt> attempts_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  int hedges_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SHARD_READ_H_

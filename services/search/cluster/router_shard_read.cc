// CancelGroup and the helpers of ShardRead (router_shard_read.h).
// Thread-safety: CancelGroup under its mutex; the rest pure.
#include "services/search/cluster/router_shard_read.h"

namespace latentsearch::search::cluster {

Cancellation* CancelGroup::Add() {
  Cancellation* member;
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    members_.push_back(std::make_unique<Cancellation>());
    member = members_.back().get();
    cancelled = cancelled_;
  }
  // Nothing is registered on it yet: this only marks it.
  if (cancelled) member->Cancel();
  return member;
}

void CancelGroup::CancelAll() {
  std::vector<Cancellation*> members;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;
    cancelled_ = true;
    for (const auto& m : members_) members.push_back(m.get());
  }
  // Outside the lock: a member's callback may finish a call inline.
  for (Cancellation* m : members) m->Cancel();
}

bool CancelGroup::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool IsVerdictOnRequest(const absl::Status& status) {
  return absl::IsInvalidArgument(status) || absl::IsFailedPrecondition(status) ||
         absl::IsOutOfRange(status);
}

std::string DescribeReplicaError(const std::string& node, const absl::Status& status) {
  if (absl::StrContains(status.message(), node)) return status.ToString();
  return absl::StrCat("node ", node, ": ", status.ToString());
}

}  // namespace latentsearch::search::cluster

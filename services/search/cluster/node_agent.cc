#include "services/search/cluster/node_agent.h"

#include "absl/time/clock.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"

namespace latentsearch::search::cluster {

absl::Status StorePlacementSource::RegisterNode(const v1::NodeRecord& node) {
  return store_->RegisterNode(node);
}

absl::StatusOr<std::vector<v1::CollectionPlacement>> StorePlacementSource::ReadPlacements() {
  LS_ASSIGN_OR_RETURN(std::vector<latentsearch::cluster::StoredPlacement> stored,
                      store_->ReadPlacements());
  std::vector<v1::CollectionPlacement> out;
  out.reserve(stored.size());
  for (auto& s : stored) out.push_back(std::move(s.placement));
  return out;
}

absl::Status NodeAgent::RefreshOnce() {
  if (!registered_) {
    v1::NodeRecord record;
    record.set_address(core_->address());
    record.set_registered_at_us(absl::ToUnixMicros(absl::Now()));
    LS_RETURN_IF_ERROR(source_->RegisterNode(record));
    registered_ = true;
    LOG(INFO) << "node " << core_->address() << " registered";
  }
  LS_ASSIGN_OR_RETURN(std::vector<v1::CollectionPlacement> placements, source_->ReadPlacements());
  core_->Reconcile(placements);
  return absl::OkStatus();
}

void NodeAgent::Start() {
  refresh_ = std::thread([this] { RefreshLoop(); });
  catch_up_ = std::thread([this] { CatchUpLoop(); });
}

void NodeAgent::Stop() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (refresh_.joinable()) refresh_.join();
  if (catch_up_.joinable()) catch_up_.join();
}

bool NodeAgent::Wait(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return !stop_;
}

void NodeAgent::RefreshLoop() {
  bool failing = false;
  do {
    absl::Status s = RefreshOnce();
    if (!s.ok() && !failing) {
      LOG(WARNING) << "node " << core_->address()
                   << ": reading the placement failed; keeping the last one: " << s;
    } else if (s.ok() && failing) {
      LOG(INFO) << "node " << core_->address() << ": placement readable again";
    }
    failing = !s.ok();
    if (on_readiness_) on_readiness_(core_->AllServing());
  } while (Wait(interval_));
}

void NodeAgent::CatchUpLoop() {
  // Catch-ups become due on the clock (two intervals after they start), so
  // polling at a tenth of the interval bounds their extra delay.
  while (Wait(interval_ / 10)) {
    core_->AntiEntropyDue();
    if (!core_->CatchUpPending()) continue;
    core_->CatchUpDue();
    if (on_readiness_) on_readiness_(core_->AllServing());
  }
}

}  // namespace latentsearch::search::cluster

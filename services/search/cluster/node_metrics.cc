// NodeMetrics (node_metrics.h): the families, the hook that counts replica
// events into them, and the gauges over NodeCore::Status().
// Thread-safety: the families are the registry's (thread-safe); the watched
// core sits behind Source's mutex.
#include "services/search/cluster/node_metrics.h"

#include <functional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace latentsearch::search::cluster {

struct NodeMetrics::Families {
  rpc::HistogramFamily* catch_up_seconds = nullptr;
  rpc::CounterFamily* catch_ups = nullptr;
  rpc::CounterFamily* anti_entropy_merges = nullptr;
};

struct NodeMetrics::Source {
  absl::Mutex mu;
  const NodeCore* core ABSL_GUARDED_BY(mu) = nullptr;
};

namespace {

using Samples = std::vector<rpc::GaugeSample>;

// One sample per replica: (collection, shard) -> value.
Samples PerReplica(const v1::GetNodeStatusResponse& status,
                   const std::function<double(const v1::NodeReplica&)>& value) {
  Samples out;
  for (const v1::NodeReplica& r : status.replicas()) {
    out.push_back({{r.ref().collection(), absl::StrCat(r.ref().shard())}, value(r)});
  }
  return out;
}

}  // namespace

Samples NodeReplicaStates(const v1::GetNodeStatusResponse& status) {
  static constexpr std::pair<v1::ReplicaState, const char*> kStates[] = {
      {v1::REPLICA_STATE_SERVING, "serving"},
      {v1::REPLICA_STATE_CATCHING_UP, "catching_up"},
  };
  Samples out;
  for (const v1::NodeReplica& r : status.replicas()) {
    for (const auto& [value, label] : kStates) {
      out.push_back({{r.ref().collection(), absl::StrCat(r.ref().shard()), label},
                     r.state() == value ? 1.0 : 0.0});
    }
  }
  return out;
}

Samples NodeReplicaItems(const v1::GetNodeStatusResponse& status) {
  return PerReplica(status, [](const v1::NodeReplica& r) { return r.item_count(); });
}

Samples NodeReplicaTombstones(const v1::GetNodeStatusResponse& status) {
  return PerReplica(status, [](const v1::NodeReplica& r) { return r.tombstones(); });
}

NodeMetrics::NodeMetrics(rpc::MetricsRegistry* registry)
    : families_([registry] {
        auto f = std::make_shared<Families>();
        // 0.1 s .. 819 s: two refresh intervals at least, a large shard's
        // copy at most.
        f->catch_up_seconds = registry->AddHistogram(
            "latentsearch_node_catch_up_seconds",
            "How long replica catch-ups took, from the replica leaving service (restarts of the "
            "catch-up included) until it served again.",
            {"collection", "shard"}, rpc::ExponentialBuckets(0.1, 2, 14));
        f->catch_ups = registry->AddCounter(
            "latentsearch_node_catch_ups_total",
            "Replica catch-ups started: reason start (opened from disk at start-up), new "
            "(created empty: a new collection, a moved or wiped replica) or resync (a router's "
            "Resync after a missed write).",
            {"collection", "shard", "reason"});
        f->anti_entropy_merges = registry->AddCounter(
            "latentsearch_node_anti_entropy_merges_total",
            "Peers merged into a serving replica whose digest stayed different from theirs "
            "while neither took writes.",
            {"collection", "shard"});
        return f;
      }()),
      source_(std::make_shared<Source>()) {
  // Each gauge reads the watched core's Status() (O(replicas)).
  auto from_status = [source = source_](Samples (*samples)(const v1::GetNodeStatusResponse&)) {
    return [source, samples] {
      absl::MutexLock lock(&source->mu);
      return source->core == nullptr ? Samples() : samples(source->core->Status());
    };
  };
  registry->AddCallbackGauge(
      "latentsearch_node_replica_state",
      "Replica state on this node: 1 for the replica's state (serving, or catching_up: "
      "accepts writes, refuses reads), 0 for the other.",
      {"collection", "shard", "state"}, from_status(&NodeReplicaStates));
  registry->AddCallbackGauge("latentsearch_node_replica_items", "Live items per replica.",
                             {"collection", "shard"}, from_status(&NodeReplicaItems));
  registry->AddCallbackGauge(
      "latentsearch_node_replica_tombstones",
      "Versioned delete tombstones per replica (kept so that an older upsert arriving late "
      "cannot bring a deleted item back).",
      {"collection", "shard"}, from_status(&NodeReplicaTombstones));
}

NodeMetrics::~NodeMetrics() { Unwatch(); }

void NodeMetrics::Watch(const NodeCore* core) {
  absl::MutexLock lock(&source_->mu);
  source_->core = core;
}

void NodeMetrics::Unwatch() { Watch(nullptr); }

void NodeMetrics::Install(NodeCoreOptions* options) const {
  std::shared_ptr<const Families> f = families_;
  options->on_replica_event = [f](const ReplicaEvent& e) {
    const std::string shard = absl::StrCat(e.shard);
    switch (e.kind) {
      case ReplicaEvent::Kind::kCatchUpStarted:
        f->catch_ups->Get({e.collection, shard, e.reason})->Increment();
        break;
      case ReplicaEvent::Kind::kCaughtUp:
        f->catch_up_seconds->Get({e.collection, shard})->Observe(absl::ToDoubleSeconds(e.took));
        break;
      case ReplicaEvent::Kind::kAntiEntropyMerge:
        f->anti_entropy_merges->Get({e.collection, shard})->Increment();
        break;
    }
  };
}

}  // namespace latentsearch::search::cluster

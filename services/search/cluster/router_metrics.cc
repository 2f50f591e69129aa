// RouterMetrics (router_metrics.h): the families, the hooks that count into
// them, and the replica-state gauge over the ClusterView.
// Thread-safety: the families are the registry's (thread-safe); the watched
// view sits behind Source's mutex.
#include "services/search/cluster/router_metrics.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace latentsearch::search::cluster {

struct RouterMetrics::Families {
  rpc::HistogramFamily* shard_request_seconds = nullptr;
  rpc::CounterFamily* shard_retries = nullptr;
  rpc::CounterFamily* partial_answers = nullptr;
  rpc::CounterFamily* write_refusals = nullptr;
  rpc::CounterFamily* resyncs = nullptr;
};

struct RouterMetrics::Source {
  absl::Mutex mu;
  const ClusterView* view ABSL_GUARDED_BY(mu) = nullptr;
};

namespace {

constexpr std::pair<v1::ReplicaState, const char*> kStates[] = {
    {v1::REPLICA_STATE_SERVING, "serving"},
    {v1::REPLICA_STATE_CATCHING_UP, "catching_up"},
    {v1::REPLICA_STATE_DOWN, "down"},
    {v1::REPLICA_STATE_MISSING, "missing"},
};

const char* Outcome(absl::StatusCode code) {
  return code == absl::StatusCode::kOk ? "ok" : "error";
}

}  // namespace

const char* ShardReadRpcLabel(const char* rpc) {
  if (std::strcmp(rpc, "SearchShard") == 0) return "search";
  if (std::strcmp(rpc, "GetItems") == 0) return "get_items";
  if (std::strcmp(rpc, "ScanShard") == 0) return "list_items";
  return "other";
}

std::vector<rpc::GaugeSample> RouterReplicaStates(const ViewState& state) {
  std::vector<rpc::GaugeSample> out;
  for (const auto& [name, stored] : state.collections) {
    for (const v1::ShardPlacement& shard : stored.placement.shards()) {
      const std::string shard_label = absl::StrCat(shard.shard());
      for (const v1::ReplicaPlacement& r : shard.replicas()) {
        // As Cluster.Status says it (router_cluster_admin.cc).
        v1::ReplicaState seen = v1::REPLICA_STATE_DOWN;
        if (state.NodeUp(r.node())) {
          const v1::NodeReplica* replica = state.Replica(r.node(), name, shard.shard());
          seen = replica == nullptr ? v1::REPLICA_STATE_MISSING : replica->state();
        }
        for (const auto& [value, label] : kStates) {
          out.push_back({{name, shard_label, r.node(), label}, seen == value ? 1.0 : 0.0});
        }
      }
    }
  }
  return out;
}

RouterMetrics::RouterMetrics(rpc::MetricsRegistry* registry)
    : families_([registry] {
        auto f = std::make_shared<Families>();
        f->shard_request_seconds = registry->AddHistogram(
            "latentsearch_router_shard_request_seconds",
            "Router fan-out latency per shard: rpc search, get_items or list_items is one read "
            "of one shard from the first replica's call to the answer, retries and hedges "
            "included; write is one shard's part of a write until its consistency level was "
            "met (outcome ok) or could no longer be (error).",
            {"collection", "shard", "rpc", "outcome"}, rpc::LatencyBuckets());
        f->shard_retries = registry->AddCounter(
            "latentsearch_router_shard_retries_total",
            "Shard reads sent to another replica: kind retry after a replica failed, hedge "
            "beside a replica slower than the hedge delay.",
            {"collection", "shard", "kind"});
        f->partial_answers = registry->AddCounter(
            "latentsearch_router_partial_answers_total",
            "Search and SearchBatch calls answered partial (allow_partial, some shard without "
            "an answering replica).",
            {"collection"});
        f->write_refusals = registry->AddCounter(
            "latentsearch_router_write_refusals_total",
            "Upsert messages and Deletes refused UNAVAILABLE: a shard could not get the "
            "acknowledgements its write consistency level needs.",
            {"collection"});
        f->resyncs = registry->AddCounter(
            "latentsearch_router_resyncs_total",
            "Replicas this router told to resync (catch up) after they missed a write.",
            {"collection", "shard", "node"});
        return f;
      }()),
      source_(std::make_shared<Source>()) {
  registry->AddCallbackGauge(
      "latentsearch_router_replica_state",
      "Replica state as this router's last poll saw it: 1 for the replica's state (serving, "
      "catching_up, down: its node does not answer, missing: its node does not hold it), 0 "
      "for the others.",
      {"collection", "shard", "node", "state"}, [source = source_] {
        std::shared_ptr<const ViewState> state;
        {
          absl::MutexLock lock(&source->mu);
          if (source->view != nullptr) state = source->view->Current();
        }
        return state ? RouterReplicaStates(*state) : std::vector<rpc::GaugeSample>();
      });
}

RouterMetrics::~RouterMetrics() { Unwatch(); }

void RouterMetrics::Watch(const ClusterView* view) {
  absl::MutexLock lock(&source_->mu);
  source_->view = view;
}

void RouterMetrics::Unwatch() { Watch(nullptr); }

void RouterMetrics::Install(RouterCoreOptions* options) const {
  std::shared_ptr<const Families> f = families_;
  options->on_shard_read = [f](const ShardReadStats& s) {
    const std::string shard = absl::StrCat(s.shard);
    f->shard_request_seconds->Get({s.collection, shard, ShardReadRpcLabel(s.rpc), Outcome(s.code)})
        ->Observe(absl::ToDoubleSeconds(s.latency));
    const int retries = s.attempts - 1 - s.hedges;
    if (retries > 0) f->shard_retries->Get({s.collection, shard, "retry"})->Increment(retries);
    if (s.hedges > 0) f->shard_retries->Get({s.collection, shard, "hedge"})->Increment(s.hedges);
  };
  options->on_shard_write = [f](const ShardWriteStats& s) {
    f->shard_request_seconds->Get({s.collection, absl::StrCat(s.shard), "write", Outcome(s.code)})
        ->Observe(absl::ToDoubleSeconds(s.latency));
  };
  options->on_partial_answer = [f](const std::string& collection) {
    f->partial_answers->Get({collection})->Increment();
  };
  options->on_write_refused = [f](const std::string& collection) {
    f->write_refusals->Get({collection})->Increment();
  };
  options->on_resync = [f](const std::string& collection, uint32_t shard, const std::string& node) {
    f->resyncs->Get({collection, absl::StrCat(shard), node})->Increment();
  };
}

}  // namespace latentsearch::search::cluster

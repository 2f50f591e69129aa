// Keeps a search node in step with the cluster (docs/cluster.md): registers
// the node's address once, then every refresh interval reads every
// collection's placement and hands it to NodeCore::Reconcile; a second
// thread runs due catch-ups, so a long copy never delays the next refresh.
// A failed read keeps the last placement (nothing is dropped for it) and is
// logged at WARNING.
//
// Thread-safety: Start/Stop from one thread; the threads only call NodeCore.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_AGENT_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_AGENT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/cluster/placement_store.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/cluster/node_core.h"

namespace latentsearch::search::cluster {

// Where the node reads placements and registers itself (etcd in
// production: etcd_placement_store.h).
class PlacementSource {
 public:
  virtual ~PlacementSource() = default;
  // Records the node (idempotent: an existing record is kept).
  virtual absl::Status RegisterNode(const v1::NodeRecord& node) = 0;
  // Every collection's placement.
  virtual absl::StatusOr<std::vector<v1::CollectionPlacement>> ReadPlacements() = 0;
};

// PlacementSource over the etcd PlacementStore.
class StorePlacementSource final : public PlacementSource {
 public:
  // Not owned; must outlive this object.
  explicit StorePlacementSource(latentsearch::cluster::PlacementStore* store) : store_(store) {}
  absl::Status RegisterNode(const v1::NodeRecord& node) override;
  absl::StatusOr<std::vector<v1::CollectionPlacement>> ReadPlacements() override;

 private:
  latentsearch::cluster::PlacementStore* const store_;
};

class NodeAgent {
 public:
  // Neither pointer is owned; both must outlive the agent. `on_readiness`
  // (may be empty) hears after every refresh and catch-up whether every
  // replica serves (the node's health/readiness).
  NodeAgent(NodeCore* core, PlacementSource* source, absl::Duration refresh_interval,
            std::function<void(bool)> on_readiness = nullptr)
      : core_(core),
        source_(source),
        interval_(refresh_interval),
        on_readiness_(std::move(on_readiness)) {}
  ~NodeAgent() { Stop(); }

  // One refresh: register (until that succeeded once) and reconcile. The
  // threads call it; tests call it directly.
  absl::Status RefreshOnce();
  // Starts the refresh and catch-up threads (after a first RefreshOnce).
  void Start();
  void Stop();

 private:
  void RefreshLoop();
  void CatchUpLoop();
  // Waits up to `d` or until Stop; false when stopping.
  bool Wait(absl::Duration d);

  NodeCore* const core_;
  PlacementSource* const source_;
  const absl::Duration interval_;
  const std::function<void(bool)> on_readiness_;
  bool registered_ = false;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread refresh_, catch_up_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_AGENT_H_

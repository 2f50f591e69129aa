// A search cluster's router (docs/cluster.md): stateless, it answers the
// public latentsearch.v1.Search API (same messages and error contract as
// the standalone SearchCore) and the latentsearch.v1.Cluster admin API by
// calling the nodes' internal SearchNode API, with the placement read from
// etcd. Takes and returns v1 messages; no gRPC here (the node calls go
// through NodeClient, router_node_client.h).
//
// What it does per call, and where:
// - CreateCollection, DropCollection, ListCollections, GetCollection,
//   Snapshot: router_collections.h;
// - Upsert and Delete: validated (router_validate.h), every item stamped
//   with the router's hybrid logical clock, grouped by shard and written to
//   every replica of its shard, acknowledged per the consistency level
//   (router_write.h);
// - Search and SearchBatch: router_search.h; image queries are encoded once
//   here (EncoderClient, pinned to the collection's model version), then
//   searched as vectors;
// - ListItems: router_list_items.h;
// - Cluster.Status and Cluster.Rebalance, and finishing moves after every
//   refresh: router_cluster_admin.h;
// - the placement and node states: ClusterView (cluster_view.h), refreshed
//   every refresh interval on its thread (or by Refresh()).
//
// Every call is asynchronous: `done` runs exactly once, inline for refused
// requests, otherwise on a worker thread (calls that wait on etcd or
// nodes), a gRPC client thread or the timer's thread; response pointers
// must stay valid until then. A Search's `cancel` (nullptr = none) cancels
// its encoder call and its node calls: `done` then runs with CANCELLED.
// Reads are bounded by the call's deadline (else options.default_timeout);
// writes by options.write_timeout, not by the call's deadline: a write cut
// short by a client's deadline would only leave replicas to resync.
//
// Thread-safety: every method is thread-safe; an upsert stream is used by
// one stream at a time. The destructor waits for running calls (including
// writes' background waits, at most one refresh interval) to end.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CORE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/cluster/hlc.h"
#include "latentsearch/v1/cluster.pb.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/cancellation.h"
#include "services/search/cluster/cluster_view.h"
#include "services/search/cluster/router_context.h"
#include "services/search/cluster/router_options.h"
#include "services/search/cluster/router_timer.h"
#include "services/search/cluster/router_workers.h"

namespace latentsearch::search::cluster {

class RouterCore;

// One Upsert stream through the router: each message is validated and
// acknowledged (per its consistency level) before the next is read.
class RouterUpsertStream {
 public:
  using Done = std::function<void(const absl::Status&)>;
  // The first message names the collection and may override the
  // consistency level; later ones may repeat the name.
  void Add(const v1::UpsertRequest& request, Done done);
  // INVALID_ARGUMENT for a stream without messages. Counts: upserted =
  // items received; inserted / replaced as the first acknowledging replica
  // of each shard saw them (another replica may have seen an id as new
  // that this one replaced); item_count summed over the shards.
  absl::StatusOr<v1::UpsertResponse> Finish();

 private:
  friend class RouterCore;
  explicit RouterUpsertStream(RouterCore* core) : core_(core) {}
  void Write(const StoredPlacement& placement, const v1::UpsertRequest& request, Done done);

  RouterCore* const core_;
  std::string collection_;
  int messages_ = 0;
  v1::ConsistencyLevel level_ = v1::CONSISTENCY_LEVEL_UNSPECIFIED;
  v1::UpsertResponse response_;
  // Per shard, the live items its first acknowledging replica reported last.
  std::map<uint32_t, uint64_t> shard_items_;
};

class RouterCore {
 public:
  using Done = std::function<void(const absl::Status&)>;

  // Builds the view (one refresh now; a store that does not answer yet is
  // logged and the router starts anyway) and starts the refresh thread.
  // INVALID_ARGUMENT without a dialer, or without a store and etcd
  // endpoints; the etcd client's errors for malformed endpoints.
  static absl::StatusOr<std::unique_ptr<RouterCore>> Create(RouterCoreOptions options);
  ~RouterCore();

  void CreateCollection(const v1::CreateCollectionRequest& request, absl::Time deadline,
                        v1::CollectionInfo* response, Done done);
  void DropCollection(const v1::DropCollectionRequest& request, absl::Time deadline,
                      v1::DropCollectionResponse* response, Done done);
  void ListCollections(const v1::ListCollectionsRequest& request, absl::Time deadline,
                       v1::ListCollectionsResponse* response, Done done);
  void GetCollection(const v1::GetCollectionRequest& request, absl::Time deadline,
                     v1::CollectionInfo* response, Done done);
  std::unique_ptr<RouterUpsertStream> NewUpsertStream();
  void Delete(const v1::DeleteRequest& request, absl::Time deadline, v1::DeleteResponse* response,
              Done done);
  void ListItems(const v1::ListItemsRequest& request, absl::Time deadline,
                 v1::ListItemsResponse* response, Done done);
  void Search(const v1::SearchRequest& request, absl::Time deadline, Cancellation* cancel,
              v1::SearchResponse* response, Done done);
  void SearchBatch(const v1::SearchBatchRequest& request, absl::Time deadline, Cancellation* cancel,
                   v1::SearchBatchResponse* response, Done done);
  void Snapshot(const v1::SnapshotRequest& request, absl::Time deadline,
                v1::SnapshotResponse* response, Done done);

  // Cluster admin.
  void Status(const v1::ClusterStatusRequest& request, v1::ClusterStatusResponse* response,
              Done done);
  void Rebalance(const v1::RebalanceRequest& request, v1::RebalanceResponse* response, Done done);

  // One refresh of the view (then finishing caught-up moves), now, on the
  // calling thread: for tests, which run without the refresh thread.
  absl::Status Refresh();

  ClusterView& view() { return *view_; }

 private:
  friend class RouterUpsertStream;
  RouterCore(RouterCoreOptions options, std::unique_ptr<ClusterView> view);

  // The placement of `name`, inline from the view, else read from the
  // store on a worker.
  void ResolvePlacement(const std::string& name,
                        std::function<void(absl::StatusOr<StoredPlacement>)> then);
  // Runs `fn` on a worker; its value goes to *response.
  template <typename Response, typename Fn>
  void OnWorker(Response* response, Done done, Fn fn);
  // A validated batch over `placement`, answered into *response.
  void RunBatch(const StoredPlacement& placement, std::shared_ptr<v1::SearchBatchRequest> batch,
                absl::Time deadline, Cancellation* cancel, v1::SearchBatchResponse* response,
                Done done);
  void SearchByImage(const StoredPlacement& placement, const v1::SearchRequest& request,
                     absl::Time deadline, Cancellation* cancel, v1::SearchResponse* response,
                     Done done);
  // Live items of a shard as the last poll saw them (the serving replica
  // with the most).
  uint64_t ShardItems(const v1::CollectionPlacement& placement, uint32_t shard) const;

  const RouterCoreOptions options_;
  const std::unique_ptr<ClusterView> view_;
  OpTracker ops_;
  Timer timer_;
  WorkerPool workers_;
  ::latentsearch::cluster::HybridClock clock_;
  const RouterContext ctx_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CORE_H_

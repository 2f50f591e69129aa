// What a router is configured with (RouterCore::Create): where the
// placement lives, how it reaches nodes and the encoder, its limits and
// timings. Filled by services/search/main.cc from --role=router's flags;
// every field documents its default.
// Thread-safety: a plain struct.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_OPTIONS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/search/cluster/router_node_client.h"
#include "services/search/cluster/router_placement_store.h"
#include "services/search/encoder_client.h"

namespace latentsearch::search::cluster {

// How one read of one shard went (a search's, an item query's or a
// ListItems page's), for /metrics.
struct ShardReadStats {
  std::string collection;
  uint32_t shard = 0;
  // "SearchShard", "GetItems" or "ScanShard".
  const char* rpc = "";
  // From the first replica's call to the answer.
  absl::Duration latency;
  // Replicas called: 1 when the first answered; more after failures
  // (retries) or a slow replica (hedges).
  int attempts = 0;
  // Some call was a hedge beside a replica that was slow to answer.
  bool hedged = false;
  // How many calls were hedges; the other attempts - 1 were retries after
  // a failure.
  int hedges = 0;
  // OK, or why the read failed.
  absl::StatusCode code = absl::StatusCode::kOk;
};

// How one shard's part of a write went (router_write.h), for /metrics.
struct ShardWriteStats {
  std::string collection;
  uint32_t shard = 0;
  // From sending it to every replica until the shard's consistency level
  // was met (OK) or could no longer be (an error).
  absl::Duration latency;
  absl::StatusCode code = absl::StatusCode::kOk;
};

struct RouterCoreOptions {
  // etcd client URLs ("http://127.0.0.1:2379"), used when `store` is null.
  std::vector<std::string> etcd_endpoints;
  // The placement store; null = etcd at etcd_endpoints (tests pass their
  // own).
  std::shared_ptr<RouterPlacementStore> store;
  // Required: makes the client of a node address; main.cc passes
  // GrpcNodeClient::Dialer(security) (router_grpc_node_client.h).
  NodeDialer dial;
  // How often the placement is re-read and nodes are polled
  // (docs/cluster.md; default 1 s). Also how long a write keeps waiting
  // for a slow replica after it was answered before that replica is told to
  // resync.
  absl::Duration refresh_interval = absl::Seconds(1);
  // Deadline of each GetNodeStatus poll and Resync call.
  absl::Duration poll_timeout = absl::Milliseconds(500);
  // Refresh on a thread every refresh_interval (false: only when Refresh()
  // is called; tests).
  bool refresh_thread = true;
  // Encodes image queries; null = image queries answer UNAVAILABLE (no
  // --encoder on the router).
  std::shared_ptr<EncoderClient> encoder;
  // Largest k a search may ask for (--max_k).
  uint32_t max_k = 1000;
  // Most queries in one SearchBatch (--max_batch_queries).
  uint32_t max_batch_queries = 1000;
  // Largest vector dimension of a collection (--max_dim).
  uint32_t max_dim = 4096;
  // A shard replica that has not answered a read within this is asked
  // again on the shard's next replica (both may answer; the first wins).
  // Measured on the 2-core development machine, one shard of 66,667 x
  // 128-d (a third of the acceptance collection) in-process: exact search
  // p50 1.3 ms / p99 1.9 ms alone and p99 9.3 ms with 4 concurrent queries;
  // HNSW p99 0.25 ms. 50 ms is over 5x the loaded p99 (plus a loopback RPC),
  // so hedges fire for stalled replicas, not for a busy one (which a hedge
  // would only load more).
  absl::Duration hedge_delay = absl::Milliseconds(50);
  // Longest a replica's write may take; a write not acknowledged by enough
  // replicas by then fails UNAVAILABLE.
  absl::Duration write_timeout = absl::Seconds(10);
  // Bound for calls that came without a deadline (searches, the wait for
  // a new collection's replicas).
  absl::Duration default_timeout = absl::Seconds(30);
  // This router's name in Cluster.Status (its address, usually).
  std::string name;
  // Threads for the calls that wait on nodes or etcd (create, drop, list,
  // get, list items, snapshot, status, rebalance).
  int worker_threads = 4;
  // Called once per shard read, on the thread that finished it (per-shard
  // fan-out latency and retries for /metrics; replica states are read from
  // RouterCore::view() at scrape time). Cheap and thread-safe; empty =
  // none.
  std::function<void(const ShardReadStats&)> on_shard_read;
  // The same for every shard request of a write, once it is decided.
  std::function<void(const ShardWriteStats&)> on_shard_write;
  // A Search or SearchBatch answered partial (some shard had no replica
  // that answered and the request allowed it).
  std::function<void(const std::string& collection)> on_partial_answer;
  // An Upsert message or Delete refused UNAVAILABLE: some shard could not
  // get the acknowledgements its consistency level needs.
  std::function<void(const std::string& collection)> on_write_refused;
  // A replica that missed a write was told to resync (ClusterView; not
  // counting re-sends of the same Resync).
  std::function<void(const std::string& collection, uint32_t shard, const std::string& node)>
      on_resync;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_OPTIONS_H_

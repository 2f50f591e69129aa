// The router's view of one search node: the internal SearchNode RPCs
// (protos/latentsearch/v1/cluster.proto) as asynchronous calls, so that the
// router's core and its ClusterView stay free of gRPC (docs/architecture.md:
// peer-client interfaces in the core, their gRPC implementation beside them,
// router_grpc_node_client.h). Tests use an in-process fake node through the
// gRPC implementation, or their own NodeClient.
//
// Every call takes its request as a shared pointer (a write goes to every
// replica of a shard; one request object serves them all), a deadline
// (absl::InfiniteFuture() = none) and an optional Cancellation (not owned;
// valid until `done` ran): Cancel() ends the call soon with CANCELLED unless
// it already finished. `done` runs exactly once, inline or on another
// thread. Errors: UNAVAILABLE / DEADLINE_EXCEEDED / CANCELLED / INTERNAL
// name the node; the node's own answers about the request
// (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ...) keep its message.
//
// Thread-safety: implementations must be thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_NODE_CLIENT_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_NODE_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/cancellation.h"

namespace latentsearch::search::cluster {

class NodeClient {
 public:
  template <typename Response>
  using Done = std::function<void(absl::StatusOr<Response>)>;
  template <typename Request>
  using Ptr = std::shared_ptr<const Request>;

  virtual ~NodeClient() = default;

  // The node's address as it registered (what the placement names).
  virtual const std::string& address() const = 0;

  virtual void GetNodeStatus(Ptr<v1::GetNodeStatusRequest> request, absl::Time deadline,
                             Cancellation* cancel, Done<v1::GetNodeStatusResponse> done) = 0;
  virtual void Write(Ptr<v1::ShardWriteRequest> request, absl::Time deadline, Cancellation* cancel,
                     Done<v1::ShardWriteResponse> done) = 0;
  virtual void SearchShard(Ptr<v1::ShardSearchRequest> request, absl::Time deadline,
                           Cancellation* cancel, Done<v1::SearchBatchResponse> done) = 0;
  virtual void GetItems(Ptr<v1::GetItemsRequest> request, absl::Time deadline, Cancellation* cancel,
                        Done<v1::GetItemsResponse> done) = 0;
  virtual void ScanShard(Ptr<v1::ScanShardRequest> request, absl::Time deadline,
                         Cancellation* cancel, Done<v1::ScanShardResponse> done) = 0;
  virtual void Resync(Ptr<v1::ResyncRequest> request, absl::Time deadline, Cancellation* cancel,
                      Done<v1::ResyncResponse> done) = 0;
  virtual void SnapshotShards(Ptr<v1::SnapshotRequest> request, absl::Time deadline,
                              Cancellation* cancel, Done<v1::SnapshotResponse> done) = 0;
};

// Makes the client for a node address (any gRPC target string). Called once
// per address by the ClusterView; errors (e.g. unreadable TLS files) make the
// node count as down.
using NodeDialer =
    std::function<absl::StatusOr<std::shared_ptr<NodeClient>>(const std::string& address)>;

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_NODE_CLIENT_H_

// NodeClient over gRPC: the SearchNode RPCs on one channel to one node
// address (any gRPC target string; TLS and bearer token as
// common/rpc/security.h), with the callback API so no thread waits for an
// answer. gRPC statuses become absl::Status through rpc::FromGrpcStatus;
// transport failures (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN,
// INTERNAL, refused credentials) name the node, the node's answers about
// the request keep its message.
//
// Thread-safety: thread-safe. The destructor waits until every call's
// `done` has returned (calls end by their deadline or cancellation), so the
// channel is never released from one of gRPC's own threads; it must not run
// inside a `done` of this client.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_GRPC_NODE_CLIENT_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_GRPC_NODE_CLIENT_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/security.h"
#include "latentsearch/v1/cluster.grpc.pb.h"
#include "services/search/cluster/router_node_client.h"

namespace latentsearch::search::cluster {

class GrpcNodeClient final : public NodeClient {
 public:
  // Dials `address` lazily. A node that went away is dialled again at
  // least every `max_reconnect_backoff` (a restarted node is reached soon,
  // not after gRPC's default backoff of up to 120 s). Errors: as
  // rpc::ApplyClientSecurity.
  static absl::StatusOr<std::unique_ptr<GrpcNodeClient>> Create(
      const std::string& address, const rpc::ClientSecurityOptions& security = {},
      absl::Duration max_reconnect_backoff = absl::Seconds(1));
  // A NodeDialer making GrpcNodeClients with these settings.
  static NodeDialer Dialer(rpc::ClientSecurityOptions security = {},
                           absl::Duration max_reconnect_backoff = absl::Seconds(1));

  ~GrpcNodeClient() override;

  const std::string& address() const override { return address_; }

  void GetNodeStatus(Ptr<v1::GetNodeStatusRequest> request, absl::Time deadline,
                     Cancellation* cancel, Done<v1::GetNodeStatusResponse> done) override;
  void Write(Ptr<v1::ShardWriteRequest> request, absl::Time deadline, Cancellation* cancel,
             Done<v1::ShardWriteResponse> done) override;
  void SearchShard(Ptr<v1::ShardSearchRequest> request, absl::Time deadline, Cancellation* cancel,
                   Done<v1::SearchBatchResponse> done) override;
  void GetItems(Ptr<v1::GetItemsRequest> request, absl::Time deadline, Cancellation* cancel,
                Done<v1::GetItemsResponse> done) override;
  void ScanShard(Ptr<v1::ScanShardRequest> request, absl::Time deadline, Cancellation* cancel,
                 Done<v1::ScanShardResponse> done) override;
  void Resync(Ptr<v1::ResyncRequest> request, absl::Time deadline, Cancellation* cancel,
              Done<v1::ResyncResponse> done) override;
  void SnapshotShards(Ptr<v1::SnapshotRequest> request, absl::Time deadline, Cancellation* cancel,
                      Done<v1::SnapshotResponse> done) override;

  // Counts calls whose `done` has not returned yet (shared with the calls,
  // so it outlives a call that finishes while the client is destroyed).
  struct InFlight {
    absl::Mutex mu;
    int calls ABSL_GUARDED_BY(mu) = 0;
  };

 private:
  GrpcNodeClient(std::string address, std::unique_ptr<v1::SearchNode::Stub> stub)
      : address_(std::move(address)), stub_(std::move(stub)) {}

  // Runs one unary call of the stub's callback API.
  template <typename Request, typename Response, typename Method>
  void Call(Method method, const char* name, Ptr<Request> request, absl::Time deadline,
            Cancellation* cancel, Done<Response> done);
  // The node's status for the caller (see the file comment).
  absl::Status Describe(const char* rpc, const grpc::Status& status) const;

  const std::string address_;
  const std::unique_ptr<v1::SearchNode::Stub> stub_;
  const std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_GRPC_NODE_CLIENT_H_

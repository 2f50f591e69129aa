// PeerScanner over gRPC: SearchNode.ScanShard on a peer node, one channel
// per peer address (kept), each call bounded by a timeout.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_GRPC_PEER_SCANNER_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_GRPC_PEER_SCANNER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc/security.h"
#include "latentsearch/v1/cluster.grpc.pb.h"
#include "services/search/cluster/node_core.h"

namespace latentsearch::search::cluster {

class GrpcPeerScanner final : public PeerScanner {
 public:
  // `security` is how this node dials its peers (TLS, token).
  GrpcPeerScanner(rpc::ClientSecurityOptions security, absl::Duration timeout)
      : security_(std::move(security)), timeout_(timeout) {}

  absl::StatusOr<v1::ScanShardResponse> Scan(const std::string& node,
                                             const v1::ScanShardRequest& request) override;
  absl::StatusOr<v1::GetNodeStatusResponse> Status(const std::string& node) override;

 private:
  absl::StatusOr<v1::SearchNode::Stub*> StubFor(const std::string& node);

  const rpc::ClientSecurityOptions security_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<v1::SearchNode::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_GRPC_PEER_SCANNER_H_

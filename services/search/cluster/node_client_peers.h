// PeerScanner over NodeClient (router_node_client.h): a node reaches its
// peers with the same SearchNode client the routers use (the gRPC one in
// production, GrpcNodeClient::Dialer), one client per peer address (kept),
// each call bounded by a timeout and waited for (catch-up and anti-entropy
// run on the node agent's own thread, never on a gRPC thread).
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_CLIENT_PEERS_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_CLIENT_PEERS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/search/cluster/node_core.h"
#include "services/search/cluster/router_node_client.h"

namespace latentsearch::search::cluster {

class NodeClientPeers final : public PeerScanner {
 public:
  NodeClientPeers(NodeDialer dial, absl::Duration timeout)
      : dial_(std::move(dial)), timeout_(timeout) {}

  absl::StatusOr<v1::ScanShardResponse> Scan(const std::string& node,
                                             const v1::ScanShardRequest& request) override;
  absl::StatusOr<v1::GetNodeStatusResponse> Status(const std::string& node) override;

 private:
  absl::StatusOr<std::shared_ptr<NodeClient>> ClientFor(const std::string& node);

  const NodeDialer dial_;
  const absl::Duration timeout_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<NodeClient>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_CLIENT_PEERS_H_

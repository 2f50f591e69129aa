// The latentsearch.v1.Cluster admin API on a router (`latentsearch cluster
// status` / `rebalance`): a thin callback-API adapter over RouterCore, each
// handler finishing from the core's `done` with rpc::ToGrpcStatus.
// Thread-safety: thread-safe, as gRPC requires.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CLUSTER_SERVICE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CLUSTER_SERVICE_H_

#include "latentsearch/v1/cluster.grpc.pb.h"
#include "services/search/cluster/router_core.h"

namespace latentsearch::search::cluster {

class ClusterService final : public v1::Cluster::CallbackService {
 public:
  // `core` must outlive the service.
  explicit ClusterService(RouterCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const v1::ClusterStatusRequest* request,
                                   v1::ClusterStatusResponse* response) override;
  grpc::ServerUnaryReactor* Rebalance(grpc::CallbackServerContext* ctx,
                                      const v1::RebalanceRequest* request,
                                      v1::RebalanceResponse* response) override;

 private:
  RouterCore* const core_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_CLUSTER_SERVICE_H_

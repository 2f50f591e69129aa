// The Cluster gRPC adapter over RouterCore (router_cluster_service.h).
// Thread-safety: stateless; reactors finish from the core's callbacks.
#include "services/search/cluster/router_cluster_service.h"

#include "common/rpc/status_util.h"

namespace latentsearch::search::cluster {

grpc::ServerUnaryReactor* ClusterService::Status(grpc::CallbackServerContext* ctx,
                                                 const v1::ClusterStatusRequest* request,
                                                 v1::ClusterStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Status(*request, response,
                [reactor](const absl::Status& s) { reactor->Finish(rpc::ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* ClusterService::Rebalance(grpc::CallbackServerContext* ctx,
                                                    const v1::RebalanceRequest* request,
                                                    v1::RebalanceResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Rebalance(*request, response,
                   [reactor](const absl::Status& s) { reactor->Finish(rpc::ToGrpcStatus(s)); });
  return reactor;
}

}  // namespace latentsearch::search::cluster

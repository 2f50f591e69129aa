// The internal latentsearch.v1.SearchNode gRPC service: a thin callback-API
// adapter over NodeCore (docs/architecture.md). Every handler answers inline
// (shard searches and writes are local work).
// Thread-safety: thread-safe, as gRPC requires.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_SERVICE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_SERVICE_H_

#include "latentsearch/v1/cluster.grpc.pb.h"
#include "services/search/cluster/node_core.h"

namespace latentsearch::search::cluster {

class NodeService final : public v1::SearchNode::CallbackService {
 public:
  // `core` must outlive the service.
  explicit NodeService(NodeCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* GetNodeStatus(grpc::CallbackServerContext* ctx,
                                          const v1::GetNodeStatusRequest* request,
                                          v1::GetNodeStatusResponse* response) override;
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* ctx,
                                  const v1::ShardWriteRequest* request,
                                  v1::ShardWriteResponse* response) override;
  grpc::ServerUnaryReactor* SearchShard(grpc::CallbackServerContext* ctx,
                                        const v1::ShardSearchRequest* request,
                                        v1::SearchBatchResponse* response) override;
  grpc::ServerUnaryReactor* GetItems(grpc::CallbackServerContext* ctx,
                                     const v1::GetItemsRequest* request,
                                     v1::GetItemsResponse* response) override;
  grpc::ServerUnaryReactor* ScanShard(grpc::CallbackServerContext* ctx,
                                      const v1::ScanShardRequest* request,
                                      v1::ScanShardResponse* response) override;
  grpc::ServerUnaryReactor* Resync(grpc::CallbackServerContext* ctx,
                                   const v1::ResyncRequest* request,
                                   v1::ResyncResponse* response) override;
  grpc::ServerUnaryReactor* SnapshotShards(grpc::CallbackServerContext* ctx,
                                           const v1::SnapshotRequest* request,
                                           v1::SnapshotResponse* response) override;

 private:
  NodeCore* const core_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_NODE_SERVICE_H_

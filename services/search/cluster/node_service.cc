#include "services/search/cluster/node_service.h"

#include <utility>

#include "common/rpc/call_util.h"
#include "common/rpc/status_util.h"

namespace latentsearch::search::cluster {
grpc::ServerUnaryReactor* NodeService::GetNodeStatus(grpc::CallbackServerContext* ctx,
                                                     const v1::GetNodeStatusRequest*,
                                                     v1::GetNodeStatusResponse* response) {
  return rpc::FinishUnary(
      ctx, response, [&] { return absl::StatusOr<v1::GetNodeStatusResponse>(core_->Status()); });
}

grpc::ServerUnaryReactor* NodeService::Write(grpc::CallbackServerContext* ctx,
                                             const v1::ShardWriteRequest* request,
                                             v1::ShardWriteResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->Write(*request); });
}

grpc::ServerUnaryReactor* NodeService::SearchShard(grpc::CallbackServerContext* ctx,
                                                   const v1::ShardSearchRequest* request,
                                                   v1::SearchBatchResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->SearchShard(*request); });
}

grpc::ServerUnaryReactor* NodeService::GetItems(grpc::CallbackServerContext* ctx,
                                                const v1::GetItemsRequest* request,
                                                v1::GetItemsResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->GetItems(*request); });
}

grpc::ServerUnaryReactor* NodeService::ScanShard(grpc::CallbackServerContext* ctx,
                                                 const v1::ScanShardRequest* request,
                                                 v1::ScanShardResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->ScanShard(*request); });
}

grpc::ServerUnaryReactor* NodeService::Resync(grpc::CallbackServerContext* ctx,
                                              const v1::ResyncRequest* request,
                                              v1::ResyncResponse* response) {
  return rpc::FinishUnary(ctx, response, [&]() -> absl::StatusOr<v1::ResyncResponse> {
    absl::Status s = core_->Resync(*request);
    if (!s.ok()) return s;
    return v1::ResyncResponse();
  });
}

grpc::ServerUnaryReactor* NodeService::SnapshotShards(grpc::CallbackServerContext* ctx,
                                                      const v1::SnapshotRequest* request,
                                                      v1::SnapshotResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->Snapshot(*request); });
}

}  // namespace latentsearch::search::cluster

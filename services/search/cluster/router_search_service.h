// The public latentsearch.v1.Search API on a router: a thin callback-API
// adapter over RouterCore (docs/architecture.md), as search_service.h is
// over SearchCore. Every handler passes the v1 messages and the call's
// deadline to the core and finishes the reactor from the core's `done`
// with rpc::ToGrpcStatus, so no gRPC thread waits for nodes or etcd. A
// cancelled Search or SearchBatch (client cancel, passed deadline, the
// drain's end) cancels its encoder and node calls.
// Thread-safety: thread-safe, as gRPC requires.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SEARCH_SERVICE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SEARCH_SERVICE_H_

#include "latentsearch/v1/search.grpc.pb.h"
#include "services/search/cluster/router_core.h"

namespace latentsearch::search::cluster {

class RouterSearchService final : public v1::Search::CallbackService {
 public:
  // `core` must outlive the service.
  explicit RouterSearchService(RouterCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* CreateCollection(grpc::CallbackServerContext* ctx,
                                             const v1::CreateCollectionRequest* request,
                                             v1::CollectionInfo* response) override;
  grpc::ServerUnaryReactor* DropCollection(grpc::CallbackServerContext* ctx,
                                           const v1::DropCollectionRequest* request,
                                           v1::DropCollectionResponse* response) override;
  grpc::ServerUnaryReactor* ListCollections(grpc::CallbackServerContext* ctx,
                                            const v1::ListCollectionsRequest* request,
                                            v1::ListCollectionsResponse* response) override;
  grpc::ServerUnaryReactor* GetCollection(grpc::CallbackServerContext* ctx,
                                          const v1::GetCollectionRequest* request,
                                          v1::CollectionInfo* response) override;
  grpc::ServerReadReactor<v1::UpsertRequest>* Upsert(grpc::CallbackServerContext* ctx,
                                                     v1::UpsertResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const v1::DeleteRequest* request,
                                   v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* ListItems(grpc::CallbackServerContext* ctx,
                                      const v1::ListItemsRequest* request,
                                      v1::ListItemsResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* ctx,
                                   const v1::SearchRequest* request,
                                   v1::SearchResponse* response) override;
  grpc::ServerUnaryReactor* SearchBatch(grpc::CallbackServerContext* ctx,
                                        const v1::SearchBatchRequest* request,
                                        v1::SearchBatchResponse* response) override;
  grpc::ServerUnaryReactor* Snapshot(grpc::CallbackServerContext* ctx,
                                     const v1::SnapshotRequest* request,
                                     v1::SnapshotResponse* response) override;

 private:
  RouterCore* const core_;
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_SEARCH_SERVICE_H_

// The Search gRPC service: a thin callback-API adapter over SearchCore
// (docs/architecture.md): each handler passes the v1 messages to the core
// and finishes the reactor with the core's status mapped by
// rpc::ToGrpcStatus. Image queries finish from the encoder client's
// completion, so no gRPC thread waits for the encoder; a cancelled Search
// call cancels its encoder call.
// Thread-safety: thread-safe, as gRPC requires.
#ifndef LATENTSEARCH_SERVICES_SEARCH_SEARCH_SERVICE_H_
#define LATENTSEARCH_SERVICES_SEARCH_SEARCH_SERVICE_H_

#include "latentsearch/v1/search.grpc.pb.h"
#include "services/search/search_core.h"

namespace latentsearch::search {

class SearchService final : public v1::Search::CallbackService {
 public:
  // `core` must outlive the service.
  explicit SearchService(SearchCore* core) : core_(core) {}

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
  SearchCore* const core_;
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_SEARCH_SERVICE_H_

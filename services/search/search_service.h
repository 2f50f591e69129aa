// The Search gRPC service: a thin callback-API adapter over SearchCore
// (STYLE.md point 1). Converts protos to core types, calls the core, maps
// the status. Image queries are encoded by the Encoder service at the
// configured address, pinned to the collection's model version, without
// blocking a gRPC thread (the reactor finishes from the Encode callback).
// Thread-safety: thread-safe, as gRPC requires.
#ifndef LATENTSEARCH_SERVICES_SEARCH_SEARCH_SERVICE_H_
#define LATENTSEARCH_SERVICES_SEARCH_SEARCH_SERVICE_H_

#include <memory>
#include <string>

#include "grpcpp/channel.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "services/search/search_core.h"

namespace latentsearch::search {

class SearchService final : public v1::Search::CallbackService {
 public:
  // `core` must outlive the service. `encoder` may be null (image queries
  // then answer UNAVAILABLE); `encoder_address` is for messages.
  SearchService(SearchCore* core, std::shared_ptr<grpc::Channel> encoder,
                std::string encoder_address);

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
  void SearchByImage(grpc::CallbackServerContext* ctx, const v1::SearchRequest* request,
                     v1::SearchResponse* response, grpc::ServerUnaryReactor* reactor);

  SearchCore* const core_;
  std::unique_ptr<v1::Encoder::Stub> encoder_;
  const std::string encoder_address_;
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_SEARCH_SERVICE_H_

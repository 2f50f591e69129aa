#include "services/search/search_service.h"

#include <memory>
#include <utility>

#include "common/rpc/call_util.h"
#include "common/rpc/status_util.h"

namespace latentsearch::search {
namespace {

using rpc::ToGrpcStatus;

// One Upsert stream over the core's UpsertStream.
class UpsertReactor final : public grpc::ServerReadReactor<v1::UpsertRequest> {
 public:
  UpsertReactor(std::unique_ptr<UpsertStream> stream, v1::UpsertResponse* response)
      : stream_(std::move(stream)), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (ok) {
      absl::Status s = stream_->Add(request_);
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      StartRead(&request_);
      return;
    }
    absl::StatusOr<v1::UpsertResponse> r = stream_->Finish();
    if (r.ok()) *response_ = *std::move(r);
    Finish(ToGrpcStatus(r.status()));
  }

  void OnDone() override { delete this; }

 private:
  const std::unique_ptr<UpsertStream> stream_;
  v1::UpsertResponse* const response_;
  v1::UpsertRequest request_;
};

// One Search by image (vector and item queries take the default reactor,
// SearchService::Search). It finishes from the encoder client's
// completion; when the call is cancelled first (the client cancelled, its
// deadline passed, or the server's drain ran out) OnCancel cancels the
// encoder call, so the reactor finishes without waiting for the encoder
// and server Shutdown does not hang on it.
class SearchReactor final : public grpc::ServerUnaryReactor {
 public:
  SearchReactor(const SearchCore& core, const grpc::CallbackServerContext& ctx,
                const v1::SearchRequest& request, v1::SearchResponse* response) {
    core.Search(request, rpc::DeadlineOf(ctx), &cancel_, response,
                [this](const absl::Status& s) { Finish(ToGrpcStatus(s)); });
  }

  void OnCancel() override { cancel_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  Cancellation cancel_;
};

}  // namespace

grpc::ServerUnaryReactor* SearchService::CreateCollection(
    grpc::CallbackServerContext* ctx, const v1::CreateCollectionRequest* request,
    v1::CollectionInfo* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->CreateCollection(*request); });
}

grpc::ServerUnaryReactor* SearchService::DropCollection(grpc::CallbackServerContext* ctx,
                                                        const v1::DropCollectionRequest* request,
                                                        v1::DropCollectionResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->DropCollection(*request); });
}

grpc::ServerUnaryReactor* SearchService::ListCollections(grpc::CallbackServerContext* ctx,
                                                         const v1::ListCollectionsRequest* request,
                                                         v1::ListCollectionsResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] {
    return absl::StatusOr<v1::ListCollectionsResponse>(core_->ListCollections(*request));
  });
}

grpc::ServerUnaryReactor* SearchService::GetCollection(grpc::CallbackServerContext* ctx,
                                                       const v1::GetCollectionRequest* request,
                                                       v1::CollectionInfo* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->GetCollection(*request); });
}

grpc::ServerReadReactor<v1::UpsertRequest>* SearchService::Upsert(grpc::CallbackServerContext*,
                                                                  v1::UpsertResponse* response) {
  return new UpsertReactor(core_->NewUpsertStream(), response);
}

grpc::ServerUnaryReactor* SearchService::Delete(grpc::CallbackServerContext* ctx,
                                                const v1::DeleteRequest* request,
                                                v1::DeleteResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->Delete(*request); });
}

grpc::ServerUnaryReactor* SearchService::ListItems(grpc::CallbackServerContext* ctx,
                                                   const v1::ListItemsRequest* request,
                                                   v1::ListItemsResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->ListItems(*request); });
}

grpc::ServerUnaryReactor* SearchService::Search(grpc::CallbackServerContext* ctx,
                                                const v1::SearchRequest* request,
                                                v1::SearchResponse* response) {
  if (request->has_image()) return new SearchReactor(*core_, *ctx, *request, response);
  // A vector or item query is answered inline (nothing to cancel), so it
  // takes gRPC's default reactor: its reactions run inline, where a reactor
  // of our own has OnDone handed to gRPC's executor thread, one more thread
  // wake-up per call.
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Search(*request, rpc::DeadlineOf(*ctx), /*cancel=*/nullptr, response,
                [reactor](const absl::Status& s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* SearchService::SearchBatch(grpc::CallbackServerContext* ctx,
                                                     const v1::SearchBatchRequest* request,
                                                     v1::SearchBatchResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->SearchBatch(*request); });
}

grpc::ServerUnaryReactor* SearchService::Snapshot(grpc::CallbackServerContext* ctx,
                                                  const v1::SnapshotRequest* request,
                                                  v1::SnapshotResponse* response) {
  return rpc::FinishUnary(ctx, response, [&] { return core_->Snapshot(*request); });
}

}  // namespace latentsearch::search

// The Search gRPC adapter over RouterCore (router_search_service.h).
// Thread-safety: reactors finish from the core's callbacks, once.
#include "services/search/cluster/router_search_service.h"

#include <memory>
#include <utility>

#include "common/rpc/call_util.h"
#include "common/rpc/status_util.h"

namespace latentsearch::search::cluster {
namespace {

using rpc::ToGrpcStatus;

// A unary call the core answers through `done`.
template <typename F>
grpc::ServerUnaryReactor* Async(grpc::CallbackServerContext* ctx, F&& call) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  call(rpc::DeadlineOf(*ctx),
       [reactor](const absl::Status& s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

// One Upsert stream over the core's RouterUpsertStream: the next message
// is read once the previous one was acknowledged.
class UpsertReactor final : public grpc::ServerReadReactor<v1::UpsertRequest> {
 public:
  UpsertReactor(std::unique_ptr<RouterUpsertStream> stream, v1::UpsertResponse* response)
      : stream_(std::move(stream)), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::StatusOr<v1::UpsertResponse> r = stream_->Finish();
      if (r.ok()) *response_ = *std::move(r);
      Finish(ToGrpcStatus(r.status()));
      return;
    }
    stream_->Add(request_, [this](const absl::Status& s) {
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      StartRead(&request_);
    });
  }

  void OnDone() override { delete this; }

 private:
  const std::unique_ptr<RouterUpsertStream> stream_;
  v1::UpsertResponse* const response_;
  v1::UpsertRequest request_;
};

// One Search or SearchBatch call; OnCancel cancels the core's encoder and
// node calls, so the reactor finishes without waiting for them.
class SearchReactor final : public grpc::ServerUnaryReactor {
 public:
  template <typename Call>
  SearchReactor(const grpc::CallbackServerContext& ctx, Call&& call) {
    call(rpc::DeadlineOf(ctx), &cancel_,
         [this](const absl::Status& s) { Finish(ToGrpcStatus(s)); });
  }

  void OnCancel() override { cancel_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  Cancellation cancel_;
};

}  // namespace

grpc::ServerUnaryReactor* RouterSearchService::CreateCollection(
    grpc::CallbackServerContext* ctx, const v1::CreateCollectionRequest* request,
    v1::CollectionInfo* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->CreateCollection(*request, deadline, response, std::move(done));
  });
}

grpc::ServerUnaryReactor* RouterSearchService::DropCollection(
    grpc::CallbackServerContext* ctx, const v1::DropCollectionRequest* request,
    v1::DropCollectionResponse* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->DropCollection(*request, deadline, response, std::move(done));
  });
}

grpc::ServerUnaryReactor* RouterSearchService::ListCollections(
    grpc::CallbackServerContext* ctx, const v1::ListCollectionsRequest* request,
    v1::ListCollectionsResponse* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->ListCollections(*request, deadline, response, std::move(done));
  });
}

grpc::ServerUnaryReactor* RouterSearchService::GetCollection(
    grpc::CallbackServerContext* ctx, const v1::GetCollectionRequest* request,
    v1::CollectionInfo* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->GetCollection(*request, deadline, response, std::move(done));
  });
}

grpc::ServerReadReactor<v1::UpsertRequest>* RouterSearchService::Upsert(
    grpc::CallbackServerContext*, v1::UpsertResponse* response) {
  return new UpsertReactor(core_->NewUpsertStream(), response);
}

grpc::ServerUnaryReactor* RouterSearchService::Delete(grpc::CallbackServerContext* ctx,
                                                      const v1::DeleteRequest* request,
                                                      v1::DeleteResponse* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->Delete(*request, deadline, response, std::move(done));
  });
}

grpc::ServerUnaryReactor* RouterSearchService::ListItems(grpc::CallbackServerContext* ctx,
                                                         const v1::ListItemsRequest* request,
                                                         v1::ListItemsResponse* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->ListItems(*request, deadline, response, std::move(done));
  });
}

grpc::ServerUnaryReactor* RouterSearchService::Search(grpc::CallbackServerContext* ctx,
                                                      const v1::SearchRequest* request,
                                                      v1::SearchResponse* response) {
  return new SearchReactor(*ctx,
                           [&](absl::Time deadline, Cancellation* cancel, RouterCore::Done done) {
                             core_->Search(*request, deadline, cancel, response, std::move(done));
                           });
}

grpc::ServerUnaryReactor* RouterSearchService::SearchBatch(grpc::CallbackServerContext* ctx,
                                                           const v1::SearchBatchRequest* request,
                                                           v1::SearchBatchResponse* response) {
  return new SearchReactor(
      *ctx, [&](absl::Time deadline, Cancellation* cancel, RouterCore::Done done) {
        core_->SearchBatch(*request, deadline, cancel, response, std::move(done));
      });
}

grpc::ServerUnaryReactor* RouterSearchService::Snapshot(grpc::CallbackServerContext* ctx,
                                                        const v1::SnapshotRequest* request,
                                                        v1::SnapshotResponse* response) {
  return Async(ctx, [&](absl::Time deadline, RouterCore::Done done) {
    core_->Snapshot(*request, deadline, response, std::move(done));
  });
}

}  // namespace latentsearch::search::cluster

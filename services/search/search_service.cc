#include "services/search/search_service.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_util.h"
#include "google/protobuf/util/time_util.h"
#include "services/search/convert.h"

namespace latentsearch::search {
namespace {

using rpc::ToGrpcStatus;

uint64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Runs a core search for `request` into `response`. `encoded` is the
// query vector of an image query (already encoded), else null.
absl::Status RunSearch(SearchCore* core, const v1::SearchRequest& request,
                       std::vector<float>* encoded, v1::SearchResponse* response) {
  auto start = std::chrono::steady_clock::now();
  Query query;
  QueryOptions options;
  if (encoded != nullptr) {
    query.vector = std::move(*encoded);
    absl::Status s = OptionsFromProto(request, &options);
    if (!s.ok()) return s;
  } else {
    absl::Status s = SearchFromProto(request, &query, &options);
    if (!s.ok()) return s;
  }
  absl::StatusOr<SearchAnswer> answer = core->Search(request.collection(), query, options);
  if (!answer.ok()) return answer.status();
  SearchAnswerToProto(*answer, options, response);
  response->set_took_micros(MicrosSince(start));
  return absl::OkStatus();
}

// One Upsert stream: every message is validated and made durable as it
// arrives; the response counts the whole stream.
class UpsertReactor final : public grpc::ServerReadReactor<v1::UpsertRequest> {
 public:
  UpsertReactor(SearchCore* core, v1::UpsertResponse* response) : core_(core), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (collection_.empty()) {
        Finish(ToGrpcStatus(absl::InvalidArgumentError(
            "empty Upsert stream: the first message must name the collection")));
        return;
      }
      absl::StatusOr<CollectionInfo> info = core_->GetCollection(collection_);
      if (info.ok()) response_->set_item_count(info->stats.item_count);
      Finish(grpc::Status::OK);
      return;
    }
    absl::Status s = Apply();
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Apply() {
    ++messages_;
    if (collection_.empty()) {
      if (request_.collection().empty()) {
        return absl::InvalidArgumentError("the first Upsert message must name the collection");
      }
      collection_ = request_.collection();
    } else if (!request_.collection().empty() && request_.collection() != collection_) {
      return absl::InvalidArgumentError(
          absl::StrCat("message ", messages_, " names collection '", request_.collection(),
                       "' but the stream upserts into '", collection_, "'"));
    }
    index::ItemBatch batch;
    batch.metas.reserve(request_.items_size());
    for (const v1::Item& item : request_.items()) {
      batch.metas.push_back({item.id(), item.label(), item.uri()});
      batch.vectors.insert(batch.vectors.end(), item.vector().begin(), item.vector().end());
    }
    // Per-item dimension check before the core sees a flat float array.
    absl::StatusOr<CollectionInfo> info = core_->GetCollection(collection_);
    if (!info.ok()) return info.status();
    for (int i = 0; i < request_.items_size(); ++i) {
      if (static_cast<uint32_t>(request_.items(i).vector_size()) != info->config.dim) {
        return absl::InvalidArgumentError(
            absl::StrCat("message ", messages_, ", item ", i, " (id '", request_.items(i).id(),
                         "') has ", request_.items(i).vector_size(), " values; collection '",
                         collection_, "' has dim ", info->config.dim));
      }
    }
    absl::StatusOr<index::UpsertCounts> counts = core_->Upsert(collection_, batch);
    if (!counts.ok()) return counts.status();
    response_->set_upserted(response_->upserted() + batch.metas.size());
    response_->set_inserted(response_->inserted() + counts->inserted);
    response_->set_replaced(response_->replaced() + counts->replaced);
    return absl::OkStatus();
  }

  SearchCore* const core_;
  v1::UpsertResponse* const response_;
  v1::UpsertRequest request_;
  std::string collection_;
  int messages_ = 0;
};

}  // namespace

SearchService::SearchService(SearchCore* core, std::shared_ptr<grpc::Channel> encoder,
                             std::string encoder_address)
    : core_(core),
      encoder_(encoder ? v1::Encoder::NewStub(encoder) : nullptr),
      encoder_address_(std::move(encoder_address)) {}

grpc::ServerUnaryReactor* SearchService::CreateCollection(
    grpc::CallbackServerContext* ctx, const v1::CreateCollectionRequest* request,
    v1::CollectionInfo* response) {
  absl::StatusOr<CreateSpec> spec = CreateSpecFromProto(*request);
  if (!spec.ok()) return Finish(ctx, spec.status());
  absl::StatusOr<CollectionInfo> info = core_->CreateCollection(*spec);
  if (info.ok()) CollectionInfoToProto(*info, response);
  return Finish(ctx, info.status());
}

grpc::ServerUnaryReactor* SearchService::DropCollection(grpc::CallbackServerContext* ctx,
                                                        const v1::DropCollectionRequest* request,
                                                        v1::DropCollectionResponse*) {
  return Finish(ctx, core_->DropCollection(request->name()));
}

grpc::ServerUnaryReactor* SearchService::ListCollections(grpc::CallbackServerContext* ctx,
                                                         const v1::ListCollectionsRequest*,
                                                         v1::ListCollectionsResponse* response) {
  for (const CollectionInfo& info : core_->ListCollections()) {
    CollectionInfoToProto(info, response->add_collections());
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* SearchService::GetCollection(grpc::CallbackServerContext* ctx,
                                                       const v1::GetCollectionRequest* request,
                                                       v1::CollectionInfo* response) {
  absl::StatusOr<CollectionInfo> info = core_->GetCollection(request->name());
  if (info.ok()) CollectionInfoToProto(*info, response);
  return Finish(ctx, info.status());
}

grpc::ServerReadReactor<v1::UpsertRequest>* SearchService::Upsert(grpc::CallbackServerContext*,
                                                                  v1::UpsertResponse* response) {
  return new UpsertReactor(core_, response);
}

grpc::ServerUnaryReactor* SearchService::Delete(grpc::CallbackServerContext* ctx,
                                                const v1::DeleteRequest* request,
                                                v1::DeleteResponse* response) {
  std::vector<std::string> ids(request->ids().begin(), request->ids().end());
  absl::StatusOr<std::pair<uint64_t, uint64_t>> r = core_->Delete(request->collection(), ids);
  if (r.ok()) {
    response->set_deleted(r->first);
    response->set_not_found(r->second);
  }
  return Finish(ctx, r.status());
}

grpc::ServerUnaryReactor* SearchService::ListItems(grpc::CallbackServerContext* ctx,
                                                   const v1::ListItemsRequest* request,
                                                   v1::ListItemsResponse* response) {
  absl::StatusOr<ItemPage> page =
      core_->ListItems(request->collection(), request->page_size(), request->page_token(),
                       request->include_vectors());
  if (page.ok()) {
    const size_t dim = page->metas.empty() ? 0 : page->vectors.size() / page->metas.size();
    for (size_t i = 0; i < page->metas.size(); ++i) {
      v1::Item* item = response->add_items();
      item->set_id(page->metas[i].id);
      item->set_label(page->metas[i].label);
      item->set_uri(page->metas[i].uri);
      if (dim > 0) {
        item->mutable_vector()->Add(page->vectors.begin() + i * dim,
                                    page->vectors.begin() + (i + 1) * dim);
      }
    }
    response->set_next_page_token(page->next_page_token);
    response->set_item_count(page->item_count);
  }
  return Finish(ctx, page.status());
}

grpc::ServerUnaryReactor* SearchService::Search(grpc::CallbackServerContext* ctx,
                                                const v1::SearchRequest* request,
                                                v1::SearchResponse* response) {
  if (request->has_image()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    SearchByImage(ctx, request, response, reactor);
    return reactor;
  }
  return Finish(ctx, RunSearch(core_, *request, nullptr, response));
}

void SearchService::SearchByImage(grpc::CallbackServerContext* ctx,
                                  const v1::SearchRequest* request, v1::SearchResponse* response,
                                  grpc::ServerUnaryReactor* reactor) {
  if (encoder_ == nullptr) {
    reactor->Finish(ToGrpcStatus(absl::UnavailableError(
        "search by image needs the encoder service: start latentsearch-search with "
        "--encoder=HOST:PORT (or search by vector or item_id)")));
    return;
  }
  absl::StatusOr<std::pair<std::string, uint64_t>> model = core_->ModelOf(request->collection());
  if (!model.ok()) {
    reactor->Finish(ToGrpcStatus(model.status()));
    return;
  }
  struct Call {
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::EncodeRequest request;
    v1::EncodeResponse response;
  };
  auto call = std::make_shared<Call>();
  // Inherits the caller's deadline and cancellation.
  call->ctx = grpc::ClientContext::FromCallbackServerContext(*ctx);
  call->request.mutable_model()->set_name(model->first);
  call->request.mutable_model()->set_version(model->second);
  *call->request.add_images() = request->image();
  encoder_->async()->Encode(
      call->ctx.get(), &call->request, &call->response,
      [this, call, request, response, reactor, model](grpc::Status status) {
        // The ClientContext holds a reference to the encoder channel. Drop it
        // before Finish: once the search call finishes, the server may shut
        // down and the service (owner of the channel) be destroyed while
        // this callback still runs on a gRPC thread; the last channel
        // reference then went away here, releasing gRPC's callback
        // completion queue from one of its own threads (abort in
        // grpc_cq_internal_unref, ~1 in 1,500 runs of
        // SearchServiceTest.ImageQueryIsEncodedWithThePinnedModelVersion).
        call->ctx.reset();
        if (!status.ok()) {
          absl::Status s;
          switch (status.error_code()) {
            case grpc::UNAVAILABLE:
              s = absl::UnavailableError(absl::StrCat("the encoder at ", encoder_address_,
                                                      " is unavailable: ", status.error_message()));
              break;
            case grpc::UNAUTHENTICATED:
            case grpc::PERMISSION_DENIED:
              // Our credentials towards the encoder, not the caller's: a
              // server-side misconfiguration.
              s = absl::InternalError(
                  absl::StrCat("the encoder at ", encoder_address_,
                               " refused this search service's credentials (see --encoder_tls* and "
                               "--encoder_token_file): ",
                               status.error_message()));
              break;
            case grpc::NOT_FOUND:
              s = absl::FailedPreconditionError(
                  absl::StrCat("the encoder no longer holds model ", model->first, " v",
                               model->second, " that collection '", request->collection(),
                               "' was built with: ", status.error_message()));
              break;
            default:
              s = absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                               absl::StrCat("encoding the query image: ", status.error_message()));
          }
          reactor->Finish(ToGrpcStatus(s));
          return;
        }
        if (call->response.embeddings_size() != 1) {
          reactor->Finish(ToGrpcStatus(absl::InternalError(
              absl::StrCat("the encoder answered ", call->response.embeddings_size(),
                           " embeddings for one image"))));
          return;
        }
        const auto& values = call->response.embeddings(0).values();
        std::vector<float> vector(values.begin(), values.end());
        reactor->Finish(ToGrpcStatus(RunSearch(core_, *request, &vector, response)));
      });
}

grpc::ServerUnaryReactor* SearchService::SearchBatch(grpc::CallbackServerContext* ctx,
                                                     const v1::SearchBatchRequest* request,
                                                     v1::SearchBatchResponse* response) {
  auto start = std::chrono::steady_clock::now();
  std::vector<Query> queries(request->queries_size());
  std::vector<QueryOptions> options(request->queries_size());
  for (int i = 0; i < request->queries_size(); ++i) {
    if (request->queries(i).has_image()) {
      return Finish(ctx, absl::UnimplementedError(
                             absl::StrCat("query ", i,
                                          ": image queries are not supported in "
                                          "SearchBatch yet; use Search for each image")));
    }
    absl::Status s = SearchFromProto(request->queries(i), &queries[i], &options[i]);
    if (!s.ok()) {
      return Finish(ctx, absl::Status(s.code(), absl::StrCat("query ", i, ": ", s.message())));
    }
  }
  absl::StatusOr<std::vector<SearchAnswer>> answers =
      core_->SearchBatch(request->collection(), queries, options);
  if (!answers.ok()) return Finish(ctx, answers.status());
  uint64_t took = MicrosSince(start);
  for (size_t i = 0; i < answers->size(); ++i) {
    v1::SearchResponse* r = response->add_results();
    SearchAnswerToProto((*answers)[i], options[i], r);
    r->set_took_micros(took);
  }
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* SearchService::Snapshot(grpc::CallbackServerContext* ctx,
                                                  const v1::SnapshotRequest* request,
                                                  v1::SnapshotResponse* response) {
  absl::StatusOr<std::vector<index::SnapshotInfoData>> infos =
      core_->Snapshot(request->collection());
  if (infos.ok()) {
    for (const index::SnapshotInfoData& info : *infos) {
      v1::SnapshotInfo* s = response->add_snapshots();
      s->set_collection(info.collection);
      s->set_path(info.path);
      s->set_bytes(info.bytes);
      s->set_items(info.items);
      *s->mutable_written_at() =
          google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(info.written_at_us);
    }
  }
  return Finish(ctx, infos.status());
}

}  // namespace latentsearch::search

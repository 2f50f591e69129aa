#include "services/search/search_core.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "services/search/convert.h"

namespace latentsearch::search {
namespace {

uint64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

// Runs one query on the collections into *response.
absl::Status RunSearch(const CollectionManager& collections, const std::string& collection,
                       const Query& query, const QueryOptions& options,
                       v1::SearchResponse* response) {
  const auto start = std::chrono::steady_clock::now();
  LS_ASSIGN_OR_RETURN(SearchAnswer answer, collections.Search(collection, query, options));
  SearchAnswerToProto(answer, options, response);
  response->set_took_micros(MicrosSince(start));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<float>> QueryVector(absl::StatusOr<v1::EncodeResponse> encoded,
                                               const v1::ModelRef& model,
                                               const std::string& collection) {
  if (absl::IsNotFound(encoded.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the encoder no longer holds model ", model.name(), " v", model.version(),
        " that collection '", collection, "' was built with: ", encoded.status().message()));
  }
  if (!encoded.ok()) {
    return absl::Status(encoded.status().code(),
                        absl::StrCat("encoding the query image: ", encoded.status().message()));
  }
  if (encoded->embeddings_size() != 1) {
    return absl::InternalError(absl::StrCat("the encoder answered ", encoded->embeddings_size(),
                                            " embeddings for one image"));
  }
  const auto& values = encoded->embeddings(0).values();
  return std::vector<float>(values.begin(), values.end());
}

absl::Status UpsertStream::Add(const v1::UpsertRequest& request) {
  ++messages_;
  if (collection_.empty()) {
    if (request.collection().empty()) {
      return absl::InvalidArgumentError("the first Upsert message must name the collection");
    }
    collection_ = request.collection();
  } else if (!request.collection().empty() && request.collection() != collection_) {
    return absl::InvalidArgumentError(
        absl::StrCat("message ", messages_, " names collection '", request.collection(),
                     "' but the stream upserts into '", collection_, "'"));
  }
  LS_ASSIGN_OR_RETURN(uint32_t dim, collections_->DimOf(collection_));
  LS_ASSIGN_OR_RETURN(index::ItemBatch batch,
                      ItemBatchFromProto(request, dim, messages_, collection_));
  LS_ASSIGN_OR_RETURN(index::UpsertCounts counts, collections_->Upsert(collection_, batch));
  response_.set_upserted(response_.upserted() + batch.metas.size());
  response_.set_inserted(response_.inserted() + counts.inserted);
  response_.set_replaced(response_.replaced() + counts.replaced);
  return absl::OkStatus();
}

absl::StatusOr<v1::UpsertResponse> UpsertStream::Finish() {
  if (collection_.empty()) {
    return absl::InvalidArgumentError(
        "empty Upsert stream: the first message must name the collection");
  }
  absl::StatusOr<CollectionInfo> info = collections_->GetCollection(collection_);
  if (info.ok()) response_.set_item_count(info->stats.item_count);
  return response_;
}

absl::StatusOr<std::unique_ptr<SearchCore>> SearchCore::Create(SearchCoreOptions options) {
  LS_ASSIGN_OR_RETURN(std::unique_ptr<CollectionManager> collections,
                      CollectionManager::Create(options.collections));
  return std::unique_ptr<SearchCore>(
      new SearchCore(std::move(collections), std::move(options.encoder)));
}

absl::StatusOr<v1::CollectionInfo> SearchCore::CreateCollection(
    const v1::CreateCollectionRequest& request) {
  LS_ASSIGN_OR_RETURN(CreateSpec spec, CreateSpecFromProto(request));
  LS_ASSIGN_OR_RETURN(CollectionInfo info, collections_->CreateCollection(spec));
  v1::CollectionInfo out;
  CollectionInfoToProto(info, &out);
  return out;
}

absl::StatusOr<v1::DropCollectionResponse> SearchCore::DropCollection(
    const v1::DropCollectionRequest& request) {
  LS_RETURN_IF_ERROR(collections_->DropCollection(request.name()));
  return v1::DropCollectionResponse();
}

v1::ListCollectionsResponse SearchCore::ListCollections(const v1::ListCollectionsRequest&) const {
  v1::ListCollectionsResponse out;
  for (const CollectionInfo& info : collections_->ListCollections()) {
    CollectionInfoToProto(info, out.add_collections());
  }
  return out;
}

absl::StatusOr<v1::CollectionInfo> SearchCore::GetCollection(
    const v1::GetCollectionRequest& request) const {
  LS_ASSIGN_OR_RETURN(CollectionInfo info, collections_->GetCollection(request.name()));
  v1::CollectionInfo out;
  CollectionInfoToProto(info, &out);
  return out;
}

std::unique_ptr<UpsertStream> SearchCore::NewUpsertStream() {
  return std::unique_ptr<UpsertStream>(new UpsertStream(collections_.get()));
}

absl::StatusOr<v1::DeleteResponse> SearchCore::Delete(const v1::DeleteRequest& request) {
  std::vector<std::string> ids(request.ids().begin(), request.ids().end());
  LS_ASSIGN_OR_RETURN(auto counts, collections_->Delete(request.collection(), ids));
  v1::DeleteResponse out;
  out.set_deleted(counts.first);
  out.set_not_found(counts.second);
  return out;
}

absl::StatusOr<v1::ListItemsResponse> SearchCore::ListItems(
    const v1::ListItemsRequest& request) const {
  LS_ASSIGN_OR_RETURN(ItemPage page,
                      collections_->ListItems(request.collection(), request.page_size(),
                                              request.page_token(), request.include_vectors()));
  v1::ListItemsResponse out;
  ItemPageToProto(page, &out);
  return out;
}

void SearchCore::Search(const v1::SearchRequest& request, absl::Time deadline, Cancellation* cancel,
                        v1::SearchResponse* response, Done done) const {
  if (request.has_image()) {
    SearchByImage(request, deadline, cancel, response, std::move(done));
    return;
  }
  Query query;
  QueryOptions options;
  absl::Status s = SearchFromProto(request, &query, &options);
  if (s.ok()) s = RunSearch(*collections_, request.collection(), query, options, response);
  done(s);
}

void SearchCore::SearchByImage(const v1::SearchRequest& request, absl::Time deadline,
                               Cancellation* cancel, v1::SearchResponse* response,
                               Done done) const {
  if (encoder_ == nullptr) {
    done(absl::UnavailableError(
        "search by image needs the encoder service: start latentsearch-search with "
        "--encoder=HOST:PORT (or search by vector or item_id)"));
    return;
  }
  QueryOptions options;
  if (absl::Status s = OptionsFromProto(request, &options); !s.ok()) {
    done(s);
    return;
  }
  absl::StatusOr<std::pair<std::string, uint64_t>> model =
      collections_->ModelOf(request.collection());
  if (!model.ok()) {
    done(model.status());
    return;
  }
  v1::EncodeRequest encode;
  encode.mutable_model()->set_name(model->first);
  encode.mutable_model()->set_version(model->second);
  *encode.add_images() = request.image();
  encoder_->Encode(encode, deadline, cancel,
                   [this, collection = request.collection(), model = encode.model(),
                    options = std::move(options), response,
                    done = std::move(done)](absl::StatusOr<v1::EncodeResponse> encoded) {
                     Query query;
                     absl::StatusOr<std::vector<float>> vector =
                         QueryVector(std::move(encoded), model, collection);
                     if (!vector.ok()) {
                       done(vector.status());
                       return;
                     }
                     query.vector = *std::move(vector);
                     done(RunSearch(*collections_, collection, query, options, response));
                   });
}

absl::StatusOr<v1::SearchBatchResponse> SearchCore::SearchBatch(
    const v1::SearchBatchRequest& request) const {
  const auto start = std::chrono::steady_clock::now();
  std::vector<Query> queries(request.queries_size());
  std::vector<QueryOptions> options(request.queries_size());
  for (int i = 0; i < request.queries_size(); ++i) {
    if (request.queries(i).has_image()) {
      return absl::UnimplementedError(
          absl::StrCat("query ", i,
                       ": image queries are not supported in SearchBatch yet; use Search for "
                       "each image"));
    }
    absl::Status s = SearchFromProto(request.queries(i), &queries[i], &options[i]);
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("query ", i, ": ", s.message()));
  }
  LS_ASSIGN_OR_RETURN(std::vector<SearchAnswer> answers,
                      collections_->SearchBatch(request.collection(), queries, options));
  const uint64_t took = MicrosSince(start);
  v1::SearchBatchResponse out;
  for (size_t i = 0; i < answers.size(); ++i) {
    v1::SearchResponse* r = out.add_results();
    SearchAnswerToProto(answers[i], options[i], r);
    r->set_took_micros(took);
  }
  return out;
}

absl::StatusOr<v1::SnapshotResponse> SearchCore::Snapshot(const v1::SnapshotRequest& request) {
  LS_ASSIGN_OR_RETURN(std::vector<index::SnapshotInfoData> infos,
                      collections_->Snapshot(request.collection()));
  v1::SnapshotResponse out;
  for (const index::SnapshotInfoData& info : infos) {
    SnapshotInfoToProto(info, out.add_snapshots());
  }
  return out;
}

}  // namespace latentsearch::search

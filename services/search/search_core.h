// The search service's logic behind its gRPC adapter: takes and returns
// latentsearch.v1 messages (docs/architecture.md), converts them to library
// types in convert.cc, and runs them on the CollectionManager. Image queries
// are encoded through an EncoderClient pinned to the model version the
// collection was built with; no gRPC here.
//
// Search never blocks the caller on the encoder: `done` runs once, inline
// for vector and item queries and for refused requests, otherwise from the
// encoder client's completion. The caller can cancel an image query's
// encoder call through a Cancellation (cancellation.h).
//
// Thread-safety: every method is thread-safe; an UpsertStream is used by
// one stream at a time.
#ifndef LATENTSEARCH_SERVICES_SEARCH_SEARCH_CORE_H_
#define LATENTSEARCH_SERVICES_SEARCH_SEARCH_CORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/cancellation.h"
#include "services/search/collection_manager.h"
#include "services/search/encoder_client.h"

namespace latentsearch::search {

struct SearchCoreOptions {
  // The collections (data directory, limits, threads).
  CollectionManagerOptions collections;
  // Encodes image queries; nullptr = image queries answer UNAVAILABLE
  // (no --encoder).
  std::shared_ptr<EncoderClient> encoder;
};

class SearchCore;

// The encoder's answer for one image as the query vector for `collection`
// (built with `model`): NOT_FOUND from the encoder becomes
// FAILED_PRECONDITION naming the model version, other errors keep their
// code, an answer without exactly one embedding is INTERNAL. Shared by
// SearchCore and the cluster router.
absl::StatusOr<std::vector<float>> QueryVector(absl::StatusOr<v1::EncodeResponse> encoded,
                                               const v1::ModelRef& model,
                                               const std::string& collection);

// One Upsert stream: every message is validated and made durable as it
// arrives; Finish() counts the whole stream.
class UpsertStream {
 public:
  // The first message must name the collection; later ones may repeat it.
  absl::Status Add(const v1::UpsertRequest& request);
  // INVALID_ARGUMENT for a stream without messages.
  absl::StatusOr<v1::UpsertResponse> Finish();

 private:
  friend class SearchCore;
  explicit UpsertStream(CollectionManager* collections) : collections_(collections) {}

  CollectionManager* const collections_;
  std::string collection_;
  int messages_ = 0;
  v1::UpsertResponse response_;
};

class SearchCore {
 public:
  using Done = std::function<void(const absl::Status&)>;

  // Opens every collection under options.collections.data_dir (see
  // CollectionManager::Create).
  static absl::StatusOr<std::unique_ptr<SearchCore>> Create(SearchCoreOptions options);

  absl::StatusOr<v1::CollectionInfo> CreateCollection(const v1::CreateCollectionRequest& request);
  absl::StatusOr<v1::DropCollectionResponse> DropCollection(
      const v1::DropCollectionRequest& request);
  v1::ListCollectionsResponse ListCollections(const v1::ListCollectionsRequest& request) const;
  absl::StatusOr<v1::CollectionInfo> GetCollection(const v1::GetCollectionRequest& request) const;
  std::unique_ptr<UpsertStream> NewUpsertStream();
  absl::StatusOr<v1::DeleteResponse> Delete(const v1::DeleteRequest& request);
  absl::StatusOr<v1::ListItemsResponse> ListItems(const v1::ListItemsRequest& request) const;

  // Answers `request` into *response; both must stay valid until `done`
  // ran. Image queries: UNAVAILABLE without an encoder client,
  // FAILED_PRECONDITION when the collection has no model reference or the
  // encoder no longer holds its version, the encoder's errors otherwise.
  // `deadline` bounds the encoder call (InfiniteFuture() = none); `cancel`
  // (nullptr = none; valid until `done` ran) cancels it: `done` then runs
  // with CANCELLED, once, as soon as the encoder client gives up the call.
  // Vector and item queries answer inline and ignore both.
  void Search(const v1::SearchRequest& request, absl::Time deadline, Cancellation* cancel,
              v1::SearchResponse* response, Done done) const;
  // Vector and item queries only (UNIMPLEMENTED names an image query).
  absl::StatusOr<v1::SearchBatchResponse> SearchBatch(const v1::SearchBatchRequest& request) const;
  absl::StatusOr<v1::SnapshotResponse> Snapshot(const v1::SnapshotRequest& request);

  // The collections in library types (metrics, start-up logging).
  const CollectionManager& collections() const { return *collections_; }
  // The same, for a cluster node's versioned writes (cluster/node_core.h).
  CollectionManager* mutable_collections() { return collections_.get(); }

 private:
  SearchCore(std::unique_ptr<CollectionManager> collections, std::shared_ptr<EncoderClient> encoder)
      : collections_(std::move(collections)), encoder_(std::move(encoder)) {}
  void SearchByImage(const v1::SearchRequest& request, absl::Time deadline, Cancellation* cancel,
                     v1::SearchResponse* response, Done done) const;

  const std::unique_ptr<CollectionManager> collections_;
  const std::shared_ptr<EncoderClient> encoder_;
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_SEARCH_CORE_H_

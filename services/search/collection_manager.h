// The search service's collections, in library types (no protos, no gRPC):
// named collections under a data directory, request validation (the only
// place that emits INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS and
// FAILED_PRECONDITION for them), and search. SearchCore (search_core.h) is
// its v1 face.
//
// Layout on disk: <data_dir>/collections/<name>/{snapshot.lss,wal.log}.
// At start every collection directory is opened; one that fails to load
// (corrupt file) is reported by FailedCollections() and in the log, and the
// others are served.
// Thread-safety: all methods are thread-safe.
#ifndef LATENTSEARCH_SERVICES_SEARCH_COLLECTION_MANAGER_H_
#define LATENTSEARCH_SERVICES_SEARCH_COLLECTION_MANAGER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/index/collection.h"

namespace latentsearch::search {

struct CollectionManagerOptions {
  // Where collections live (created if missing).
  std::string data_dir;
  // Largest k a search may ask for.
  uint32_t max_k = 1000;
  // Most queries in one SearchBatch.
  uint32_t max_batch_queries = 1000;
  // Largest vector dimension a collection may have.
  uint32_t max_dim = 4096;
  // Longest collection name (a cluster node names its replicas
  // "<collection>.<shard>", up to 128 + 4 characters).
  size_t max_name_length = 128;
  // Threads for HNSW builds and exact scans (0 = hardware concurrency).
  int num_threads = 0;
  // Passed to each collection (dir is filled in per collection).
  index::CollectionOptions collection;
};

// What CreateCollection asks for (0 / empty = defaults, as in search.proto).
struct CreateSpec {
  std::string name;
  uint32_t dim = 0;
  std::string model_name;
  uint64_t model_version = 0;
  std::vector<index::Metric> metrics;  // empty = all
  bool hnsw = true;
  uint32_t m = 0;
  uint32_t ef_construction = 0;
  uint32_t ef_search = 0;
  bool if_not_exists = false;
};

// Validates `spec` (name, dim 1..max_dim, HNSW ranges) and fills in the
// defaults; created_at_us is now. INVALID_ARGUMENT says what is allowed.
absl::StatusOr<index::CollectionConfig> ConfigFromSpec(const CreateSpec& spec, uint32_t max_dim);

struct CollectionInfo {
  index::CollectionConfig config;
  index::CollectionStats stats;
};

// One query: a vector or the id of an item already in the collection.
struct Query {
  std::vector<float> vector;  // used when item_id is empty
  std::string item_id;
  bool exclude_self = false;  // item_id queries only
};

struct QueryOptions {
  index::Metric metric = index::Metric::kL2;
  bool hnsw = false;
  uint32_t k = 10;  // 0 = 10
  uint32_t ef = 0;  // 0 = the collection's ef_search
  std::vector<int32_t> labels;
  bool include_vectors = false;
};

struct SearchAnswer {
  index::SearchResult result;
  std::string model_name;
  uint64_t model_version = 0;
};

// One page of ListItems.
struct ItemPage {
  std::vector<index::ItemMeta> metas;  // ascending by id
  std::vector<float> vectors;          // metas.size() × dim, when asked for
  std::string next_page_token;         // "" after the last page
  uint64_t item_count = 0;             // live items in the collection
};

struct FailedCollection {
  std::string name;
  absl::Status error;
};

class CollectionManager {
 public:
  static absl::StatusOr<std::unique_ptr<CollectionManager>> Create(
      const CollectionManagerOptions& options);

  absl::StatusOr<CollectionInfo> CreateCollection(const CreateSpec& spec);
  // Creates from a validated config (ConfigFromSpec), under config.name
  // (checked against options.max_name_length). With if_not_exists an
  // existing collection of the same dim and model is answered instead of
  // ALREADY_EXISTS.
  absl::StatusOr<CollectionInfo> CreateFromConfig(const index::CollectionConfig& config,
                                                  bool if_not_exists);
  absl::Status DropCollection(const std::string& name);
  std::vector<CollectionInfo> ListCollections() const;
  absl::StatusOr<CollectionInfo> GetCollection(const std::string& name) const;

  // Validates every item (id 1..256 bytes, uri <= 2 KiB, dim floats, all
  // finite) before writing any: INVALID_ARGUMENT names the item's index and
  // id. Durable when OK.
  absl::StatusOr<index::UpsertCounts> Upsert(const std::string& name,
                                             const index::ItemBatch& batch);
  // Cluster replicas (services/search/cluster): versioned writes with
  // last-writer-wins per id (index::Collection::ApplyVersioned), validated
  // like Upsert. Durable when OK.
  absl::StatusOr<index::ApplyCounts> ApplyVersioned(const std::string& name,
                                                    const index::VersionedWriteBatch& batch);
  // Up to `limit` items (and tombstones) with ids after `after_id`, ascending.
  absl::StatusOr<std::vector<index::VersionedEntry>> Scan(const std::string& name,
                                                          const std::string& after_id,
                                                          size_t limit, bool include_tombstones,
                                                          bool include_vectors) const;
  // Counts, newest version and digest of a collection.
  absl::StatusOr<index::ReplicaSummary> Summary(const std::string& name) const;
  // The live items among `ids`, in order (absent ids skipped); vectors only
  // when asked for.
  absl::StatusOr<std::vector<std::pair<index::ItemMeta, std::vector<float>>>> GetItems(
      const std::string& name, const std::vector<std::string>& ids, bool include_vectors) const;

  // Returns (deleted, not_found).
  absl::StatusOr<std::pair<uint64_t, uint64_t>> Delete(const std::string& name,
                                                       const std::vector<std::string>& ids);

  // Up to `page_size` (0 = 1,000; at most 10,000, else INVALID_ARGUMENT)
  // items with ids byte-wise greater than `page_token`, ascending.
  absl::StatusOr<ItemPage> ListItems(const std::string& name, uint32_t page_size,
                                     const std::string& page_token, bool include_vectors) const;

  absl::StatusOr<SearchAnswer> Search(const std::string& name, const Query& query,
                                      const QueryOptions& options) const;
  // Every query is validated first; the first invalid one fails the call
  // naming its index.
  absl::StatusOr<std::vector<SearchAnswer>> SearchBatch(
      const std::string& name, const std::vector<Query>& queries,
      const std::vector<QueryOptions>& options) const;

  // One collection ("" = all).
  absl::StatusOr<std::vector<index::SnapshotInfoData>> Snapshot(const std::string& name);

  // A collection's vector dimension: one map lookup, no stats (Upsert
  // streams check every message against it).
  absl::StatusOr<uint32_t> DimOf(const std::string& name) const;

  // The model a collection's vectors came from (for image queries).
  absl::StatusOr<std::pair<std::string, uint64_t>> ModelOf(const std::string& name) const;

  std::vector<FailedCollection> FailedCollections() const;

  // 1..max_length characters of [A-Za-z0-9_.-], not starting with '.'.
  static absl::Status ValidateName(const std::string& name, size_t max_length = 128);

 private:
  explicit CollectionManager(CollectionManagerOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::shared_ptr<index::Collection>> Find(const std::string& name) const;
  // Ids, uris, labels and vectors of `batch` for a collection of `dim`.
  static absl::Status ValidateItems(const std::string& name, uint32_t dim,
                                    const index::ItemBatch& batch);
  absl::Status ValidateQuery(const index::Collection& c, const Query& query,
                             const QueryOptions& options, const std::string& where) const;
  std::string CollectionDir(const std::string& name) const;

  const CollectionManagerOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<index::Collection>> collections_ ABSL_GUARDED_BY(mu_);
  std::vector<FailedCollection> failed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_COLLECTION_MANAGER_H_

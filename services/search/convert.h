// v1 proto <-> library type conversions for the search service (the only
// place they happen; see docs/architecture.md). Enum values a client may
// send that this server does not know are INVALID_ARGUMENT here.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CONVERT_H_
#define LATENTSEARCH_SERVICES_SEARCH_CONVERT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/index/metric_proto.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/collection_manager.h"

namespace latentsearch::search {

// The metric mapping is the shared one (METRIC_UNSPECIFIED -> L2 when
// `allow_unspecified`).
using index::MetricFromProto;
using index::MetricToProto;
// INDEX_KIND_UNSPECIFIED -> exact; returns true for HNSW.
absl::StatusOr<bool> IsHnswFromProto(int kind);

absl::StatusOr<CreateSpec> CreateSpecFromProto(const v1::CreateCollectionRequest& request);
void CollectionInfoToProto(const CollectionInfo& info, v1::CollectionInfo* out);

// The per-request knobs of a SearchRequest (metric, index kind, k, ef,
// labels, include_vectors).
absl::Status OptionsFromProto(const v1::SearchRequest& request, QueryOptions* options);
// Query and options of one SearchRequest (not for image queries).
absl::Status SearchFromProto(const v1::SearchRequest& request, Query* query, QueryOptions* options);
void SearchAnswerToProto(const SearchAnswer& answer, const QueryOptions& options,
                         v1::SearchResponse* out);

// The items of one Upsert message for a collection of `dim`. Each item's
// vector length is checked here (INVALID_ARGUMENT naming message number
// `message`, the item's index and the first 64 bytes of its id), before the
// values are flattened.
absl::StatusOr<index::ItemBatch> ItemBatchFromProto(const v1::UpsertRequest& request, uint32_t dim,
                                                    int message, const std::string& collection);

void ItemPageToProto(const ItemPage& page, v1::ListItemsResponse* out);
void SnapshotInfoToProto(const index::SnapshotInfoData& info, v1::SnapshotInfo* out);

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_CONVERT_H_

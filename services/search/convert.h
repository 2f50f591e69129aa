// proto <-> core conversions for the search service. Enum values a client
// may send that this server does not know are INVALID_ARGUMENT here.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_SEARCH_CONVERT_H_
#define LATENTSEARCH_SERVICES_SEARCH_CONVERT_H_

#include "absl/status/statusor.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/search_core.h"

namespace latentsearch::search {

// METRIC_UNSPECIFIED -> L2 when `allow_unspecified`.
absl::StatusOr<index::Metric> MetricFromProto(int metric, bool allow_unspecified);
v1::Metric MetricToProto(index::Metric metric);
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

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_CONVERT_H_

// The search service's own /metrics families, read from the serving
// snapshots at each scrape (callback gauges; nothing on the request path):
//
//   latentsearch_search_collections                      collections served
//   latentsearch_search_failed_collections               collections that failed to load
//   latentsearch_search_collection_items{collection}     live items
//   latentsearch_search_collection_deleted_items{collection}
//   latentsearch_search_collection_disk_bytes{collection}
//   latentsearch_search_index_items{collection,metric,index}         index = exact|hnsw
//   latentsearch_search_index_memory_bytes{collection,metric,index}
//   latentsearch_search_index_build_seconds{collection,metric,index} duration of the
//                                                        last build of the serving index
//   latentsearch_search_index_built_timestamp_seconds{collection,metric,index}
//   latentsearch_search_index_building{collection,metric,index}      1 while a rebuild runs
//
// Requests per RPC and status come from the common server interceptor
// (common/rpc/rpc_metrics.h).
// Thread-safety: the gauges call CollectionManager's thread-safe ListCollections.
#ifndef LATENTSEARCH_SERVICES_SEARCH_SEARCH_METRICS_H_
#define LATENTSEARCH_SERVICES_SEARCH_SEARCH_METRICS_H_

#include "common/rpc/metrics.h"
#include "services/search/collection_manager.h"

namespace latentsearch::search {

// `collections` and `registry` are not owned; `collections` must outlive every
// Render().
void RegisterSearchMetrics(const CollectionManager* collections, rpc::MetricsRegistry* registry);

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_SEARCH_METRICS_H_

#include "services/search/search_metrics.h"

#include <functional>
#include <string>
#include <vector>

#include "common/index/metric.h"

namespace latentsearch::search {
namespace {

using rpc::GaugeSample;

// One sample per collection.
std::function<std::vector<GaugeSample>()> PerCollection(
    const CollectionManager* collections, std::function<double(const CollectionInfo&)> value) {
  return [collections, value] {
    std::vector<GaugeSample> out;
    for (const CollectionInfo& c : collections->ListCollections()) {
      out.push_back({{c.config.name}, value(c)});
    }
    return out;
  };
}

// One sample per index of every collection.
std::function<std::vector<GaugeSample>()> PerIndex(
    const CollectionManager* collections,
    std::function<double(const index::IndexStatsEntry&)> value) {
  return [collections, value] {
    std::vector<GaugeSample> out;
    for (const CollectionInfo& c : collections->ListCollections()) {
      for (const index::IndexStatsEntry& e : c.stats.indexes) {
        out.push_back(
            {{c.config.name, std::string(index::MetricName(e.metric)), e.hnsw ? "hnsw" : "exact"},
             value(e)});
      }
    }
    return out;
  };
}

}  // namespace

void RegisterSearchMetrics(const CollectionManager* collections, rpc::MetricsRegistry* registry) {
  registry->AddCallbackGauge(
      "latentsearch_search_collections", "Collections served.", {}, [collections] {
        return std::vector<GaugeSample>{
            {{}, static_cast<double>(collections->ListCollections().size())}};
      });
  registry->AddCallbackGauge(
      "latentsearch_search_failed_collections",
      "Collections found on disk that failed to load and are not served.", {}, [collections] {
        return std::vector<GaugeSample>{
            {{}, static_cast<double>(collections->FailedCollections().size())}};
      });
  const std::vector<std::string> by_collection = {"collection"};
  registry->AddCallbackGauge(
      "latentsearch_search_collection_items", "Live items per collection.", by_collection,
      PerCollection(collections, [](const CollectionInfo& c) { return c.stats.item_count; }));
  registry->AddCallbackGauge(
      "latentsearch_search_collection_deleted_items",
      "Deleted slots per collection not yet compacted away.", by_collection,
      PerCollection(collections, [](const CollectionInfo& c) { return c.stats.deleted_count; }));
  registry->AddCallbackGauge(
      "latentsearch_search_collection_disk_bytes",
      "Bytes on disk per collection (snapshot and log).", by_collection,
      PerCollection(collections, [](const CollectionInfo& c) { return c.stats.disk_bytes; }));
  registry->AddCallbackGauge(
      "latentsearch_search_collection_graphs_loaded",
      "HNSW graphs loaded from disk when the collection was opened (a restart that loads every "
      "graph builds none).",
      by_collection,
      PerCollection(collections, [](const CollectionInfo& c) { return c.stats.graphs_loaded; }));
  registry->AddCallbackGauge(
      "latentsearch_search_collection_graphs_built",
      "HNSW graphs built from scratch since the collection was opened.", by_collection,
      PerCollection(collections, [](const CollectionInfo& c) { return c.stats.graphs_built; }));
  registry->AddCallbackGauge(
      "latentsearch_search_collection_graph_tail_inserts",
      "Items of the log tail inserted into the loaded HNSW graphs when the collection was opened "
      "(what a crash since the last graph save cost).",
      by_collection, PerCollection(collections, [](const CollectionInfo& c) {
        return c.stats.graph_tail_inserts;
      }));
  const std::vector<std::string> by_index = {"collection", "metric", "index"};
  registry->AddCallbackGauge(
      "latentsearch_search_index_items", "Items in the serving index.", by_index,
      PerIndex(collections, [](const index::IndexStatsEntry& e) { return e.items; }));
  registry->AddCallbackGauge(
      "latentsearch_search_index_memory_bytes", "Memory held by the serving index.", by_index,
      PerIndex(collections, [](const index::IndexStatsEntry& e) { return e.memory_bytes; }));
  registry->AddCallbackGauge(
      "latentsearch_search_index_build_seconds",
      "How long the last build of the serving index took (0 for exact indexes).", by_index,
      PerIndex(collections, [](const index::IndexStatsEntry& e) { return e.last_build_seconds; }));
  registry->AddCallbackGauge(
      "latentsearch_search_index_built_timestamp_seconds",
      "When the serving index was built, Unix seconds (0 = never rebuilt).", by_index,
      PerIndex(collections, [](const index::IndexStatsEntry& e) { return e.built_at_us / 1e6; }));
  registry->AddCallbackGauge("latentsearch_search_index_building",
                             "1 while a rebuild of the index runs.", by_index,
                             PerIndex(collections, [](const index::IndexStatsEntry& e) {
                               return e.state == index::IndexState::kBuilding ? 1.0 : 0.0;
                             }));
}

}  // namespace latentsearch::search

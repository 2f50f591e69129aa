// One query against a collection through the search service, for every
// metric asked, with the images needed to show the answer (what `latentsearch
// query` prints and draws, and what `report` puts in its query sheets).
// Flag-free.
//
// Contact sheet (RenderContactSheet): one row per metric; each row is the
// query image followed by its top k neighbours, captioned (row's first tile:
// "<l1|l2|cos>[ hnsw]: <query class>", then "<class> <distance>"); k is the
// most hits any row has, shorter rows end in blank cells. Every image is
// resized to tile × tile pixels (grey shown as grey RGB), laid out by
// image::ComposeGrid with captions and margin m, so the PNG is exactly
//   width  = (k + 1) * tile + (k + 2) * m
//   height = R * (tile + image::kCaptionHeight) + (R + 1) * m
// pixels, R = number of metric rows, kCaptionHeight = 11; with the defaults
// (tile 80, m 2, k 10, R 3): 904 x 281.
// Thread-safety: functions are thread-compatible (RunQuery uses `resolver`).
#ifndef LATENTSEARCH_CLIENTS_CLI_QUERY_H_
#define LATENTSEARCH_CLIENTS_CLI_QUERY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/cli/command.h"
#include "clients/cli/endpoint.h"
#include "common/image/image.h"
#include "common/items/image_resolver.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::cli {

// What to look for: exactly one of the three.
struct QueryInput {
  // An image file (PNG/JPEG): encoded by the search service's encoder with
  // the collection's model version.
  std::string image_path;
  // An item of the collection (its own vector; the item is left out of the
  // answer when exclude_self).
  std::string item_id;
  // An image given directly (e.g. a data set image): sent as raw pixels.
  std::optional<image::Image> image;
  // For `image`: its label (kNoLabel if unknown) and a name for tables.
  int32_t label = -1;
  std::string name;
};

struct QueryOptions {
  std::string collection;
  // Empty = L2 only. Rows appear in this order.
  std::vector<v1::Metric> metrics;
  v1::IndexKind index_kind = v1::INDEX_KIND_EXACT;
  int k = 10;  // 1..1000
  uint32_t ef = 0;
  bool exclude_self = true;
  // Resolve the neighbours' images through their uris (for the sheet).
  bool fetch_images = true;
};

struct QueryHit {
  int rank = 0;  // 1-based
  std::string id;
  int32_t label = -1;
  std::string class_name;  // "" when unknown
  float distance = 0;
  std::string uri;
  std::optional<image::Image> image;  // when fetched and resolvable
};

struct MetricHits {
  v1::Metric metric = v1::METRIC_L2;
  v1::IndexKind index_kind = v1::INDEX_KIND_EXACT;
  bool exact_fallback = false;
  uint64_t took_micros = 0;
  std::vector<QueryHit> hits;
};

struct QueryResult {
  std::string collection;
  v1::ModelRef model;
  std::string query_name;  // file path, item id or the given name
  int32_t query_label = -1;
  std::string query_class;  // "" when unknown
  std::optional<image::Image> query_image;
  std::vector<MetricHits> rows;

  // "query: ... (class)\n" then per metric a table: rank, id, label, class,
  // distance.
  std::string ToTable() const;
  // {"query":..,"label":..,"class":..,"collection":..,"model":{..},
  //  "results":[{"metric":"l2","index":"exact","exact_fallback":..,
  //  "neighbors":[{"rank":1,"id":..,"label":..,"class":..,"distance":..,
  //  "uri":..}]}]}
  std::string ToJson() const;
};

// Runs the query for every metric. Errors: a service's status (RpcError);
// the image file's read/decode error (DATA_LOSS / NOT_FOUND naming it);
// INVALID_ARGUMENT for not exactly one input or options out of range.
absl::StatusOr<QueryResult> RunQuery(const Endpoint& search, const QueryInput& input,
                                     const QueryOptions& options, items::ImageResolver* resolver);

struct SheetOptions {
  int tile = 80;   // tile edge in pixels, 8..512
  int margin = 2;  // 0..64
};

// The contact sheet described above. Missing images (unresolvable uris) are
// drawn as grey tiles. INVALID_ARGUMENT when there are no rows.
absl::StatusOr<image::Image> RenderContactSheet(const QueryResult& result,
                                                const SheetOptions& options = {});

// Renders and writes the sheet as a PNG (atomically; parent folders made).
absl::Status WriteContactSheet(const QueryResult& result, const std::string& path,
                               const SheetOptions& options = {});

// The expected sheet size for k hits per row and `rows` rows.
struct SheetSize {
  int width;
  int height;
};
SheetSize ContactSheetSize(int k, int rows, const SheetOptions& options = {});

// The `query` subcommand.
Command QueryCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_QUERY_H_

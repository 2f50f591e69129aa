#include "clients/cli/query.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/command.h"
#include "clients/cli/dataset_flags.h"
#include "clients/cli/json.h"
#include "clients/cli/model_ref.h"
#include "clients/cli/pipeline_flags.h"
#include "clients/cli/service_calls.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/eval/eval_result.h"
#include "common/image/grid.h"
#include "latentsearch/v1/search.grpc.pb.h"

ABSL_FLAG(std::string, id, "", "query: the id of an item of the collection to query with.");
ABSL_FLAG(int64_t, dataset_index, -1,
          "query: index of an image of the --dataset/--path/--split data set to query with.");
ABSL_FLAG(std::string, sheet, "",
          "query: write a PNG contact sheet here (the query, then the top k per metric).");
ABSL_FLAG(int, tile, 80, "query: edge of each contact sheet tile in pixels (8..512).");
ABSL_FLAG(bool, include_self, false, "query --id: keep the query item itself in the answer.");

namespace latentsearch::cli {
namespace {

std::string ClassOf(int32_t label, const std::vector<std::string>& names, const std::string& uri) {
  if (label >= 0 && static_cast<size_t>(label) < names.size()) return names[label];
  if (label >= 0 && absl::StartsWith(uri, "file:")) {
    // A labelled folder: the class is the file's sub-folder.
    return std::filesystem::path(uri.substr(5)).parent_path().filename().string();
  }
  return "";
}

image::Image ToTile(const image::Image& img, int tile) {
  absl::StatusOr<image::Image> rgb = image::ToChannels(img, 3);
  if (!rgb.ok()) return image::Image(tile, tile, 3);
  absl::StatusOr<image::Image> r = image::Resize(*rgb, tile, tile);
  return r.ok() ? *std::move(r) : image::Image(tile, tile, 3);
}

image::Image GreyTile(int tile) {
  image::Image t(tile, tile, 3);
  std::fill(t.pixels.begin(), t.pixels.end(), 200);
  return t;
}

}  // namespace

namespace {

// Fills `base` with the query of `input` (image bytes, raw pixels or an item
// id) and records what is known of the query in `result`.
absl::Status SetQuery(const QueryInput& input, v1::SearchRequest* base, QueryResult* result) {
  if (!input.image_path.empty()) {
    LS_ASSIGN_OR_RETURN(std::string bytes, base::ReadFile(input.image_path));
    absl::StatusOr<image::Image> img = image::Decode(bytes);
    if (!img.ok()) {
      return absl::DataLossError(absl::StrCat("cannot decode image file ", input.image_path, ": ",
                                              img.status().message()));
    }
    result->query_image = *std::move(img);
    result->query_name = input.image_path;
    base->mutable_image()->set_encoded(std::move(bytes));
  } else if (input.image.has_value()) {
    LS_RETURN_IF_ERROR(image::CheckImage(*input.image));
    result->query_image = *input.image;
    result->query_name = input.name.empty() ? "image" : input.name;
    result->query_label = input.label;
    v1::RawImage* raw = base->mutable_image()->mutable_raw();
    raw->set_height(input.image->height);
    raw->set_width(input.image->width);
    raw->set_channels(input.image->channels);
    raw->set_pixels(input.image->pixels.data(), input.image->pixels.size());
  } else {
    result->query_name = input.item_id;
    base->set_item_id(input.item_id);
  }
  return absl::OkStatus();
}

// Turns the neighbours of one metric's answers into QueryHits: the class
// names of the collection's data set are looked up once, at the first hit
// with a uri; the query item itself (for an item query) is noted.
class HitCollector {
 public:
  HitCollector(const QueryOptions& options, std::string self_id, items::ImageResolver* resolver)
      : options_(options), self_id_(std::move(self_id)), resolver_(resolver) {}

  // The hits of one metric's response; the query item's label goes to
  // `result`.
  MetricHits Collect(v1::Metric metric, const v1::SearchResponse& resp, QueryResult* result) {
    MetricHits row;
    row.metric = metric;
    row.index_kind = options_.index_kind;
    row.exact_fallback = resp.exact_fallback();
    row.took_micros = resp.took_micros();
    for (const v1::Neighbor& n : resp.neighbors()) {
      if (!self_id_.empty() && n.id() == self_id_) {
        result->query_label = n.label();
        self_uri_ = n.uri();
        if (options_.exclude_self) continue;
      }
      if (static_cast<int>(row.hits.size()) >= options_.k) continue;
      row.hits.push_back(Hit(n, static_cast<int>(row.hits.size()) + 1));
    }
    return row;
  }

  // For an item query: the query's image and class, from its uri.
  void FinishQuery(QueryResult* result) {
    if (!self_id_.empty() && !self_uri_.empty()) {
      if (!names_known_) {
        absl::StatusOr<std::vector<std::string>> names = resolver_->ClassNames(self_uri_);
        if (names.ok()) class_names_ = *names;
      }
      absl::StatusOr<image::Image> img = resolver_->Resolve(self_uri_);
      if (img.ok()) result->query_image = *std::move(img);
    }
    result->query_class = ClassOf(result->query_label, class_names_, self_uri_);
  }

 private:
  QueryHit Hit(const v1::Neighbor& n, int rank) {
    QueryHit hit;
    hit.rank = rank;
    hit.id = n.id();
    hit.label = n.label();
    hit.distance = n.distance();
    hit.uri = n.uri();
    if (!names_known_ && !hit.uri.empty()) {
      absl::StatusOr<std::vector<std::string>> names = resolver_->ClassNames(hit.uri);
      if (names.ok()) class_names_ = *names;
      names_known_ = true;
    }
    hit.class_name = ClassOf(hit.label, class_names_, hit.uri);
    if (options_.fetch_images && !hit.uri.empty()) {
      absl::StatusOr<image::Image> img = resolver_->Resolve(hit.uri);
      if (img.ok()) hit.image = *std::move(img);
    }
    return hit;
  }

  const QueryOptions& options_;
  const std::string self_id_;
  items::ImageResolver* const resolver_;
  std::vector<std::string> class_names_;
  bool names_known_ = false;
  std::string self_uri_;
};

}  // namespace

absl::StatusOr<QueryResult> RunQuery(const Endpoint& search, const QueryInput& input,
                                     const QueryOptions& options, items::ImageResolver* resolver) {
  const int given = !input.image_path.empty() + !input.item_id.empty() + input.image.has_value();
  if (given != 1) {
    return absl::InvalidArgumentError(
        "a query needs exactly one of: an image file, an item id (--id), a data set index");
  }
  if (options.k < 1 || options.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k ", options.k, ": expected 1..1000"));
  }
  QueryResult result;
  result.collection = options.collection;
  v1::SearchRequest base;
  base.set_collection(options.collection);
  base.set_index_kind(options.index_kind);
  base.set_ef(options.ef);
  LS_RETURN_IF_ERROR(SetQuery(input, &base, &result));
  // Item queries ask for one more neighbour with the query itself included,
  // to learn its label and uri; it is then removed unless wanted.
  const bool item_query = !input.item_id.empty();
  base.set_k(options.k + (item_query ? 1 : 0));
  base.set_exclude_self(false);

  auto stub = v1::Search::NewStub(search.channel);
  std::vector<v1::Metric> metrics = options.metrics;
  if (metrics.empty()) metrics = {v1::METRIC_L2};
  HitCollector hits(options, input.item_id, resolver);
  for (v1::Metric metric : metrics) {
    v1::SearchRequest req = base;
    req.set_metric(metric);
    grpc::ClientContext ctx;
    SetDeadline(search, &ctx);
    v1::SearchResponse resp;
    LS_RETURN_IF_ERROR(RpcError(search, stub->Search(&ctx, req, &resp)));
    result.model = resp.model();
    result.rows.push_back(hits.Collect(metric, resp, &result));
  }
  hits.FinishQuery(&result);
  return result;
}

std::string QueryResult::ToTable() const {
  std::string s = absl::StrCat("query: ", query_name);
  if (query_label >= 0) {
    absl::StrAppend(&s, " (label ", query_label,
                    query_class.empty() ? "" : absl::StrCat(", ", query_class), ")");
  }
  absl::StrAppend(&s, "  collection ", collection, " (model ",
                  model.name().empty() ? "default" : model.name(), " v", model.version(), ")\n");
  for (const MetricHits& row : rows) {
    absl::StrAppend(&s, "\n", eval::MetricLabel(row.metric), " ",
                    eval::IndexKindLabel(row.index_kind),
                    row.exact_fallback ? " (answered by the exact index)" : "", ":\n");
    size_t idw = 2, cw = 5;
    for (const QueryHit& h : row.hits) {
      idw = std::max(idw, h.id.size());
      cw = std::max(cw, h.class_name.size());
    }
    absl::StrAppend(&s, absl::StrFormat("  %4s  %-*s  %5s  %-*s  %10s\n", "rank", idw, "id",
                                        "label", cw, "class", "distance"));
    for (const QueryHit& h : row.hits) {
      absl::StrAppend(&s, absl::StrFormat("  %4d  %-*s  %5d  %-*s  %10.4f%s\n", h.rank, idw, h.id,
                                          h.label, cw, h.class_name, h.distance,
                                          query_label >= 0 && h.label == query_label ? "  *" : ""));
    }
  }
  return s;
}

std::string QueryResult::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("query").String(query_name);
  w.Key("label").Int(query_label);
  w.Key("class").String(query_class);
  w.Key("collection").String(collection);
  w.Key("model");
  ModelJson(model, &w);
  w.Key("results").BeginArray();
  for (const MetricHits& row : rows) {
    w.BeginObject();
    w.Key("metric").String(eval::MetricLabel(row.metric));
    w.Key("index").String(eval::IndexKindLabel(row.index_kind));
    w.Key("exact_fallback").Bool(row.exact_fallback);
    w.Key("took_micros").Int(row.took_micros);
    w.Key("neighbors").BeginArray();
    for (const QueryHit& h : row.hits) {
      w.BeginObject();
      w.Key("rank").Int(h.rank);
      w.Key("id").String(h.id);
      w.Key("label").Int(h.label);
      w.Key("class").String(h.class_name);
      w.Key("distance").Double(h.distance);
      w.Key("uri").String(h.uri);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

SheetSize ContactSheetSize(int k, int rows, const SheetOptions& options) {
  return {(k + 1) * options.tile + (k + 2) * options.margin,
          rows * (options.tile + image::kCaptionHeight) + (rows + 1) * options.margin};
}

absl::StatusOr<image::Image> RenderContactSheet(const QueryResult& result,
                                                const SheetOptions& options) {
  if (result.rows.empty()) {
    return absl::InvalidArgumentError("contact sheet of a query without results");
  }
  if (options.tile < 8 || options.tile > 512 || options.margin < 0 || options.margin > 64) {
    return absl::InvalidArgumentError(absl::StrCat("contact sheet tile ", options.tile, ", margin ",
                                                   options.margin,
                                                   ": expected tile 8..512 and margin 0..64"));
  }
  int k = 1;
  for (const MetricHits& row : result.rows) k = std::max<int>(k, row.hits.size());
  const image::Image query_tile =
      result.query_image ? ToTile(*result.query_image, options.tile) : GreyTile(options.tile);
  const image::Image blank = [&] {
    image::Image b(options.tile, options.tile, 3);
    std::fill(b.pixels.begin(), b.pixels.end(), 255);
    return b;
  }();
  std::vector<image::Image> tiles;
  std::vector<std::string> captions;
  for (const MetricHits& row : result.rows) {
    tiles.push_back(query_tile);
    // Short: the caption is clipped at the tile's edge.
    captions.push_back(
        absl::StrCat(row.metric == v1::METRIC_COSINE ? "cos" : eval::MetricLabel(row.metric),
                     row.index_kind == v1::INDEX_KIND_HNSW ? " hnsw" : "",
                     result.query_class.empty() ? "" : ": ", result.query_class));
    for (int i = 0; i < k; ++i) {
      if (i < static_cast<int>(row.hits.size())) {
        const QueryHit& h = row.hits[i];
        tiles.push_back(h.image ? ToTile(*h.image, options.tile) : GreyTile(options.tile));
        captions.push_back(
            absl::StrFormat(h.distance != 0 && std::abs(h.distance) < 0.01 ? "%s %.1e" : "%s %.3g",
                            h.class_name.empty() ? h.id : h.class_name, h.distance));
      } else {
        tiles.push_back(blank);
        captions.emplace_back();
      }
    }
  }
  image::GridOptions grid;
  grid.cols = k + 1;
  grid.rows = static_cast<int>(result.rows.size());
  grid.margin = options.margin;
  return image::ComposeGrid(tiles, captions, grid);
}

absl::Status WriteContactSheet(const QueryResult& result, const std::string& path,
                               const SheetOptions& options) {
  LS_ASSIGN_OR_RETURN(image::Image sheet, RenderContactSheet(result, options));
  LS_ASSIGN_OR_RETURN(std::string png, image::EncodePng(sheet));
  const std::string parent = std::filesystem::path(path).parent_path().string();
  if (!parent.empty()) LS_RETURN_IF_ERROR(base::MakeDirs(parent));
  return base::WriteFileAtomically(path, png);
}

namespace {

// The queries named on the command line: image files, --id, --dataset_index.
absl::StatusOr<std::vector<QueryInput>> QueryInputsFromFlags(const CommandContext& ctx) {
  std::vector<QueryInput> inputs;
  for (const std::string& p : ctx.positional) {
    QueryInput in;
    in.image_path = p;
    inputs.push_back(std::move(in));
  }
  const std::string id = absl::GetFlag(FLAGS_id);
  const int64_t index = absl::GetFlag(FLAGS_dataset_index);
  if (!id.empty()) {
    QueryInput in;
    in.item_id = id;
    inputs.push_back(std::move(in));
  }
  if (index >= 0) {
    LS_ASSIGN_OR_RETURN(data::DatasetSpec spec, DatasetSpecFromFlags());
    LS_ASSIGN_OR_RETURN(data::Dataset d, data::LoadDataset(spec));
    if (static_cast<size_t>(index) >= d.size()) {
      return absl::InvalidArgumentError(absl::StrCat("--dataset_index=", index,
                                                     " is out of range; the data set has ",
                                                     d.size(), " images (0..", d.size() - 1, ")"));
    }
    QueryInput in;
    LS_ASSIGN_OR_RETURN(image::Image img, d.GetImage(index));
    in.image = std::move(img);
    in.label = d.labels[index];
    in.name = absl::StrCat(data::DatasetKindName(spec.kind), " ", data::SplitName(spec.split), " #",
                           index);
    inputs.push_back(std::move(in));
  }
  if (inputs.empty()) {
    return absl::InvalidArgumentError(
        "nothing to query: give image files, --id=ITEM or --dataset_index=N with --dataset");
  }
  return inputs;
}

// --metric, --index, --k, --ef, --include_self (collection and
// fetch_images are left to the caller).
absl::StatusOr<QueryOptions> QueryOptionsFromFlags() {
  QueryOptions options;
  LS_ASSIGN_OR_RETURN(options.metrics, MetricsFromFlag("all"));
  LS_ASSIGN_OR_RETURN(std::vector<v1::IndexKind> kinds, IndexKindsFromFlag("exact"));
  if (kinds.size() != 1) {
    return absl::InvalidArgumentError("query: --index takes one kind: exact or hnsw");
  }
  options.index_kind = kinds[0];
  options.k = static_cast<int>(absl::GetFlag(FLAGS_k));
  if (options.k < 1 || options.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("--k=", options.k, ": expected 1..1000"));
  }
  options.ef = absl::GetFlag(FLAGS_ef);
  options.exclude_self = !absl::GetFlag(FLAGS_include_self);
  return options;
}

// Query i of n's sheet: out.png for one query; out-1.png, out-2.png, ... for
// several.
std::string SheetPath(const std::string& sheet_path, size_t i, size_t n) {
  if (n <= 1) return sheet_path;
  std::filesystem::path p(sheet_path);
  return (p.parent_path() / absl::StrCat(p.stem().string(), "-", i + 1, p.extension().string()))
      .string();
}

void PrintResults(const std::vector<QueryResult>& results, bool json, std::ostream& out) {
  if (json) {
    if (results.size() == 1) {
      out << results[0].ToJson() << "\n";
    } else {
      out << "[";
      for (size_t i = 0; i < results.size(); ++i) {
        out << (i ? "," : "") << results[i].ToJson();
      }
      out << "]\n";
    }
  } else {
    for (size_t i = 0; i < results.size(); ++i) {
      out << (i ? "\n" : "") << results[i].ToTable();
    }
  }
}

absl::Status RunQueryCommand(const CommandContext& ctx) {
  LS_ASSIGN_OR_RETURN(std::vector<QueryInput> inputs, QueryInputsFromFlags(ctx));
  LS_ASSIGN_OR_RETURN(QueryOptions options, QueryOptionsFromFlags());
  SheetOptions sheet;
  sheet.tile = absl::GetFlag(FLAGS_tile);
  if (sheet.tile < 8 || sheet.tile > 512) {
    return absl::InvalidArgumentError(absl::StrCat("--tile=", sheet.tile, ": expected 8..512"));
  }
  const std::string sheet_path = absl::GetFlag(FLAGS_sheet);
  options.fetch_images = !sheet_path.empty();
  LS_ASSIGN_OR_RETURN(Endpoint search, DialFromFlags(Service::kSearch));
  options.collection = absl::GetFlag(FLAGS_collection);
  if (options.collection.empty()) {
    LS_ASSIGN_OR_RETURN(v1::CollectionInfo c,
                        NewestCollectionOf(search, absl::GetFlag(FLAGS_model)));
    options.collection = c.name();
  }
  const bool json = JsonFromFlags();
  items::ImageResolver resolver;
  std::vector<QueryResult> results;
  for (size_t i = 0; i < inputs.size(); ++i) {
    LS_ASSIGN_OR_RETURN(QueryResult r, RunQuery(search, inputs[i], options, &resolver));
    if (!sheet_path.empty()) {
      const std::string path = SheetPath(sheet_path, i, inputs.size());
      LS_RETURN_IF_ERROR(WriteContactSheet(r, path, sheet));
      const SheetSize size = ContactSheetSize(options.k, static_cast<int>(r.rows.size()), sheet);
      if (!json) {
        *ctx.err << "contact sheet: " << path << " (" << size.width << " x " << size.height
                 << " px)\n";
      }
    }
    results.push_back(std::move(r));
  }
  PrintResults(results, json, *ctx.out);
  return absl::OkStatus();
}

int Run(const CommandContext& ctx) { return ReportError(RunQueryCommand(ctx), *ctx.err); }

}  // namespace

Command QueryCommand() {
  Command c;
  c.name = "query";
  c.summary =
      "Find the nearest images: by image file(s), by item id or by data set index, per "
      "metric; prints a table or JSON, writes a PNG contact sheet.";
  c.usage =
      "[IMAGE.png ...] [--id=ITEM] [--dataset=KIND --path=DIR --split=S --dataset_index=N] "
      "[--collection=NAME] [--metric=all|l1|l2|cosine] [--index=exact|hnsw] [--k=10] "
      "[--sheet=out.png] [--json]";
  c.flags = {"id",     "dataset_index", "sheet", "tile", "include_self", "collection", "model",
             "metric", "index",         "k",     "ef"};
  for (std::string& f : DatasetFlagNames()) c.flags.push_back(std::move(f));
  for (std::string& f : ClientFlagNames({Service::kSearch})) c.flags.push_back(std::move(f));
  c.run = &Run;
  return c;
}

}  // namespace latentsearch::cli

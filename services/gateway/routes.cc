#include "services/gateway/routes.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/base/logging.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "latentsearch/v1/trainer.grpc.pb.h"
#include "services/gateway/gateway_handlers.h"
#include "services/gateway/rpc_handlers.h"

namespace latentsearch::gateway {
namespace {

using v1::Encoder;
using v1::Search;
using v1::Trainer;

constexpr Backend kG = Backend::kGateway;
constexpr Backend kT = Backend::kTrainer;
constexpr Backend kE = Backend::kEncoder;
constexpr Backend kS = Backend::kSearch;

template <typename M>
const google::protobuf::Descriptor* D() {
  return M::descriptor();
}

// Over 80 lines on purpose: the route table is data, kept in one place so
// that it can be read (and reviewed against the protos) at a glance.
std::vector<Route> BuildRoutes() {
  // clang-format off
  return {
    // --- the gateway itself ---
    {"GET", "/healthz", "Gateway.Healthz", kG, "", "Liveness: the gateway process answers.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, true, &HealthzRoute},
    {"GET", "/readyz", "Gateway.Readyz", kG, "",
     "Readiness: 200 when every backend answers its health check, else 503 naming those down.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, true, &ReadyzRoute},
    {"GET", "/v1/openapi.json", "Gateway.OpenApi", kG, "", "This document.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, true, &OpenApiRoute},
    {"GET", "/v1/session", "Gateway.GetSession", kG, "",
     "Whether a token is required and whether this caller is signed in.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, true, &SessionGetRoute},
    {"POST", "/v1/session", "Gateway.SignIn", kG, "",
     "Sign in with {\"token\": TOKEN}: sets the HttpOnly, SameSite=Strict session cookie.",
     nullptr, nullptr, Body::kJson, "", Reply::kJson, true, &SessionCreateRoute},
    {"DELETE", "/v1/session", "Gateway.SignOut", kG, "", "Sign out: clears the session cookie.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, true, &SessionDeleteRoute},
    {"GET", "/v1/thumbnails", "Gateway.Thumbnail", kG, "",
     "An item's image (?uri=ITEM_URI&size=PIXELS) as PNG, read only under --image_roots.",
     nullptr, nullptr, Body::kNone, "", Reply::kPng, false, &ThumbnailRoute},
    {"POST", "/v1/models/{model.name}:preview", "Gateway.Preview", kG, "",
     "An uploaded image as the model sees it (its input channels and size), PNG.",
     D<v1::ReconstructRequest>(), nullptr, Body::kJsonOrImage, "images", Reply::kPng, false,
     &PreviewRoute},
    {"POST", "/v1/evals", "Gateway.StartEval", kG, "",
     "Start an evaluation of a collection (precision@k, mAP, HNSW recall; asynchronous).",
     nullptr, nullptr, Body::kJson, "", Reply::kJson, false, &EvalStartRoute},
    {"GET", "/v1/evals", "Gateway.ListEvals", kG, "", "Evaluations, newest first.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, false, &EvalListRoute},
    {"GET", "/v1/evals/{eval_id}", "Gateway.GetEval", kG, "", "One evaluation and its table.",
     nullptr, nullptr, Body::kNone, "", Reply::kJson, false, &EvalGetRoute},
    // --- latentsearch.v1.Trainer ---
    {"POST", "/v1/jobs", "Trainer.StartTraining", kT, "latentsearch.v1.Trainer/StartTraining",
     "Queue a training job.", D<v1::StartTrainingRequest>(), D<v1::StartTrainingResponse>(),
     Body::kJson, "", Reply::kJson, false,
     &UnaryRoute<&Backends::trainer, &Trainer::Stub::StartTraining>},
    {"GET", "/v1/jobs", "Trainer.ListJobs", kT, "latentsearch.v1.Trainer/ListJobs",
     "Jobs, newest first (?states=JOB_STATE_RUNNING,...).", D<v1::ListJobsRequest>(),
     D<v1::ListJobsResponse>(), Body::kNone, "", Reply::kJson, false,
     &UnaryRoute<&Backends::trainer, &Trainer::Stub::ListJobs>},
    {"GET", "/v1/jobs/{job_id}", "Trainer.GetJob", kT, "latentsearch.v1.Trainer/GetJob",
     "One job.", D<v1::GetJobRequest>(), D<v1::Job>(), Body::kNone, "", Reply::kJson, false,
     &UnaryRoute<&Backends::trainer, &Trainer::Stub::GetJob>},
    {"POST", "/v1/jobs/{job_id}:stop", "Trainer.StopTraining", kT,
     "latentsearch.v1.Trainer/StopTraining", "Stop a job at its next step.",
     D<v1::StopTrainingRequest>(), D<v1::StopTrainingResponse>(), Body::kJson, "", Reply::kJson,
     false, &UnaryRoute<&Backends::trainer, &Trainer::Stub::StopTraining>},
    {"POST", "/v1/jobs/{job_id}:resume", "Trainer.ResumeTraining", kT,
     "latentsearch.v1.Trainer/ResumeTraining",
     "Continue an interrupted, failed or stopped job from its last snapshot.",
     D<v1::ResumeTrainingRequest>(), D<v1::ResumeTrainingResponse>(), Body::kJson, "",
     Reply::kJson, false, &UnaryRoute<&Backends::trainer, &Trainer::Stub::ResumeTraining>},
    {"GET", "/v1/jobs/{job_id}/events", "Trainer.WatchTraining", kT,
     "latentsearch.v1.Trainer/WatchTraining",
     "A job's events as server-sent events (history first unless ?skip_history=true).",
     D<v1::WatchTrainingRequest>(), D<v1::TrainingEvent>(), Body::kNone, "",
     Reply::kEventStream, false, &WatchTrainingRoute},
    {"GET", "/v1/checkpoints", "Trainer.ListCheckpoints", kT,
     "latentsearch.v1.Trainer/ListCheckpoints", "Checkpoints in the trainer's store.",
     D<v1::ListCheckpointsRequest>(), D<v1::ListCheckpointsResponse>(), Body::kNone, "",
     Reply::kJson, false, &UnaryRoute<&Backends::trainer, &Trainer::Stub::ListCheckpoints>},
    {"GET", "/v1/checkpoints/{model.name}/{model.version}", "Trainer.DownloadCheckpoint", kT,
     "latentsearch.v1.Trainer/DownloadCheckpoint",
     "A checkpoint's bytes (version 0 = newest); metadata in X-Checkpoint-* headers.",
     D<v1::DownloadCheckpointRequest>(), nullptr, Body::kNone, "", Reply::kOctetStream, false,
     &DownloadCheckpointRoute},
    // --- latentsearch.v1.Encoder (PushCheckpoint has no route) ---
    {"GET", "/v1/models", "Encoder.ListModels", kE, "latentsearch.v1.Encoder/ListModels",
     "Models the encoder holds, newest first per name.", D<v1::ListModelsRequest>(),
     D<v1::ListModelsResponse>(), Body::kNone, "", Reply::kJson, false,
     &UnaryRoute<&Backends::encoder, &Encoder::Stub::ListModels>},
    {"POST", "/v1/models/{model.name}:encode", "Encoder.Encode", kE,
     "latentsearch.v1.Encoder/Encode", "Images to embeddings (JSON or image uploads).",
     D<v1::EncodeRequest>(), D<v1::EncodeResponse>(), Body::kJsonOrImage, "images",
     Reply::kJson, false, &UnaryRoute<&Backends::encoder, &Encoder::Stub::Encode>},
    {"POST", "/v1/models/{model.name}:reconstruct", "Encoder.Reconstruct", kE,
     "latentsearch.v1.Encoder/Reconstruct",
     "Images to the model's reconstructions (raw pixels, base64).",
     D<v1::ReconstructRequest>(), D<v1::ReconstructResponse>(), Body::kJsonOrImage, "images",
     Reply::kJson, false, &UnaryRoute<&Backends::encoder, &Encoder::Stub::Reconstruct>},
    // --- latentsearch.v1.Search ---
    {"POST", "/v1/collections", "Search.CreateCollection", kS,
     "latentsearch.v1.Search/CreateCollection", "Create a collection.",
     D<v1::CreateCollectionRequest>(), D<v1::CollectionInfo>(), Body::kJson, "", Reply::kJson,
     false, &UnaryRoute<&Backends::search, &Search::Stub::CreateCollection>},
    {"GET", "/v1/collections", "Search.ListCollections", kS,
     "latentsearch.v1.Search/ListCollections", "Collections with their statistics.",
     D<v1::ListCollectionsRequest>(), D<v1::ListCollectionsResponse>(), Body::kNone, "",
     Reply::kJson, false, &UnaryRoute<&Backends::search, &Search::Stub::ListCollections>},
    {"GET", "/v1/collections/{name}", "Search.GetCollection", kS,
     "latentsearch.v1.Search/GetCollection", "One collection's statistics.",
     D<v1::GetCollectionRequest>(), D<v1::CollectionInfo>(), Body::kNone, "", Reply::kJson,
     false, &UnaryRoute<&Backends::search, &Search::Stub::GetCollection>},
    {"DELETE", "/v1/collections/{name}", "Search.DropCollection", kS,
     "latentsearch.v1.Search/DropCollection", "Drop a collection and its files.",
     D<v1::DropCollectionRequest>(), D<v1::DropCollectionResponse>(), Body::kNone, "",
     Reply::kJson, false, &UnaryRoute<&Backends::search, &Search::Stub::DropCollection>},
    {"POST", "/v1/collections/{collection}/items", "Search.Upsert", kS,
     "latentsearch.v1.Search/Upsert",
     "Insert or replace items (sent to the service as a stream of batches).",
     D<v1::UpsertRequest>(), D<v1::UpsertResponse>(), Body::kJson, "", Reply::kJson, false,
     &UpsertRoute},
    {"GET", "/v1/collections/{collection}/items", "Search.ListItems", kS,
     "latentsearch.v1.Search/ListItems", "Page through items in id order.",
     D<v1::ListItemsRequest>(), D<v1::ListItemsResponse>(), Body::kNone, "", Reply::kJson, false,
     &UnaryRoute<&Backends::search, &Search::Stub::ListItems>},
    {"POST", "/v1/collections/{collection}/items:delete", "Search.Delete", kS,
     "latentsearch.v1.Search/Delete", "Delete items by id.", D<v1::DeleteRequest>(),
     D<v1::DeleteResponse>(), Body::kJson, "", Reply::kJson, false,
     &UnaryRoute<&Backends::search, &Search::Stub::Delete>},
    {"POST", "/v1/collections/{collection}:search", "Search.Search", kS,
     "latentsearch.v1.Search/Search",
     "k nearest neighbours of a vector, an item or an image (JSON, or an image upload with "
     "the other fields as query parameters).",
     D<v1::SearchRequest>(), D<v1::SearchResponse>(), Body::kJsonOrImage, "image", Reply::kJson,
     false, &UnaryRoute<&Backends::search, &Search::Stub::Search>},
    {"POST", "/v1/collections/{collection}:searchBatch", "Search.SearchBatch", kS,
     "latentsearch.v1.Search/SearchBatch", "Many queries in one call.",
     D<v1::SearchBatchRequest>(), D<v1::SearchBatchResponse>(), Body::kJson, "", Reply::kJson,
     false, &UnaryRoute<&Backends::search, &Search::Stub::SearchBatch>},
    {"POST", "/v1/snapshots", "Search.Snapshot", kS, "latentsearch.v1.Search/Snapshot",
     "Write a snapshot of one collection ({\"collection\": NAME}) or all.",
     D<v1::SnapshotRequest>(), D<v1::SnapshotResponse>(), Body::kJson, "", Reply::kJson, false,
     &UnaryRoute<&Backends::search, &Search::Stub::Snapshot>},
    // --- the console (static files; matched last) ---
    {"GET", "/", "Gateway.Console", kG, "", "The browser console (static files under /).",
     nullptr, nullptr, Body::kNone, "", Reply::kHtml, true, &ConsoleFileRoute},
  };
  // clang-format on
}

// A template split into pieces: literal text, or a parameter that matches
// one or more characters other than '/' and ':'. Every parameter is followed
// by the end or by a literal starting with '/' or ':', so taking the longest
// run is the only way to match (no backtracking).
struct Piece {
  std::string literal;  // empty for a parameter
  std::string name;     // the parameter's field path
};

struct Compiled {
  const Route* route;
  std::vector<Piece> pieces;
  std::vector<std::string> names;
};

std::vector<Piece> Split(const std::string& path) {
  std::vector<Piece> pieces;
  size_t pos = 0;
  while (pos < path.size()) {
    const size_t open = path.find('{', pos);
    if (open != pos) {
      pieces.push_back({path.substr(pos, open - pos), ""});
      if (open == std::string::npos) break;
    }
    const size_t close = path.find('}', open);
    CHECK(close != std::string::npos) << "route template " << path << ": unclosed '{'";
    pieces.push_back({"", path.substr(open + 1, close - open - 1)});
    pos = close + 1;
    CHECK(pos == path.size() || path[pos] == '/' || path[pos] == ':')
        << "route template " << path << ": a parameter must end at '/', ':' or the end";
  }
  return pieces;
}

// Matches `path` against `pieces`; the parameters' values into `values`.
bool MatchPieces(const std::vector<Piece>& pieces, absl::string_view path,
                 std::vector<absl::string_view>* values) {
  values->clear();
  size_t pos = 0;
  for (const Piece& p : pieces) {
    if (p.name.empty()) {
      if (path.substr(pos, p.literal.size()) != p.literal) return false;
      pos += p.literal.size();
      continue;
    }
    const size_t end = std::min(path.find_first_of("/:", pos), path.size());
    if (end == pos) return false;
    values->push_back(path.substr(pos, end - pos));
    pos = end;
  }
  return pos == path.size();
}

const std::vector<Compiled>& CompiledRoutes() {
  static const std::vector<Compiled>* compiled = [] {
    auto* out = new std::vector<Compiled>;
    for (const Route& r : Routes()) {
      Compiled c{&r, Split(r.path), {}};
      for (const Piece& p : c.pieces) {
        if (!p.name.empty()) c.names.push_back(p.name);
      }
      out->push_back(std::move(c));
    }
    return out;
  }();
  return *compiled;
}

}  // namespace

const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kTrainer:
      return "trainer";
    case Backend::kEncoder:
      return "encoder";
    case Backend::kSearch:
      return "search";
    default:
      return "gateway";
  }
}

const std::vector<Route>& Routes() {
  static const std::vector<Route>* routes = new std::vector<Route>(BuildRoutes());
  return *routes;
}

std::vector<std::string> PathParams(const Route& route) {
  for (const Compiled& c : CompiledRoutes()) {
    if (c.route == &route) return c.names;
  }
  return {};
}

RouteMatch MatchRoute(const std::string& method, const std::string& path) {
  RouteMatch match;
  std::vector<absl::string_view> values;
  for (const Compiled& c : CompiledRoutes()) {
    if (c.route->reply == Reply::kHtml || !MatchPieces(c.pieces, path, &values)) continue;
    if (method != c.route->method) {
      match.other_method = true;
      continue;
    }
    match.route = c.route;
    for (size_t i = 0; i < c.names.size(); ++i) {
      match.params[c.names[i]] = std::string(values[i]);  // httplib decoded the path
    }
    return match;
  }
  if (method == "GET" && !absl::StartsWith(path, "/v1/")) {
    for (const Compiled& c : CompiledRoutes()) {
      if (c.route->reply == Reply::kHtml) match.route = c.route;
    }
  }
  return match;
}

}  // namespace latentsearch::gateway

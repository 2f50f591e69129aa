// The search service's requests on arbitrary proto bytes, through
// SearchCore (services/search/search_core.h) as the gRPC adapter calls it,
// against an in-process core (no encoder) holding small collections.
//
// Input: u8 kind | serialized request.
//   kind % 5: 0 SearchRequest, 1 SearchBatchRequest,
//             2 CreateCollectionRequest (created, read back, dropped),
//             3 UpsertRequest (a one-message stream), 4 DeleteRequest.
// Writes go to the scratch collection "u" (a request naming "c", the
// collection searches use, is redirected there so "c" stays fixed).
// Nothing may crash, Search answers at once (no encoder to wait for), a
// client's bad request is never INTERNAL, UNKNOWN or DATA_LOSS, and answers
// hold at most k neighbours.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/search_core.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace latentsearch;
using latentsearch::fuzz::ScratchDir;
using latentsearch::fuzz::Violation;

constexpr uint32_t kDim = 4;

void CheckCode(const absl::Status& s, const char* what) {
  switch (s.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      Violation(absl::StrCat(what, ": a client's request gave ", s.ToString()));
    default:
      return;
  }
}

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) Violation(absl::StrCat("harness setup: ", what, ": ", s.ToString()));
}

// "c": HNSW, 64 items, snapshotted; "u": exact only, the scratch one.
void Fill(search::SearchCore* core) {
  for (const char* name : {"c", "u"}) {
    v1::CreateCollectionRequest create;
    create.set_name(name);
    create.set_dim(kDim);
    if (std::string(name) == "c") {
      create.mutable_hnsw()->set_m(4);
      create.mutable_hnsw()->set_ef_construction(16);
    } else {
      create.add_index_kinds(v1::INDEX_KIND_EXACT);
    }
    Must(core->CreateCollection(create).status(), "CreateCollection");
  }
  v1::UpsertRequest upsert;
  upsert.set_collection("c");
  for (int i = 0; i < 64; ++i) {
    v1::Item* item = upsert.add_items();
    item->set_id(absl::StrCat("i", i));
    item->set_label(i % 4);
    item->set_uri(absl::StrCat("u", i));
    for (uint32_t d = 0; d < kDim; ++d) {
      item->add_vector(static_cast<float>((i * 7 + d * 3) % 11) - 5.0f);
    }
  }
  std::unique_ptr<search::UpsertStream> stream = core->NewUpsertStream();
  Must(stream->Add(upsert), "Upsert");
  Must(stream->Finish().status(), "Upsert");
  v1::SnapshotRequest snapshot;
  snapshot.set_collection("c");
  Must(core->Snapshot(snapshot).status(), "Snapshot");
}

search::SearchCore& Core() {
  static search::SearchCore* core = [] {
    search::SearchCoreOptions options;  // No encoder: image queries are UNAVAILABLE.
    options.collections.data_dir = ScratchDir() + "/search";
    options.collections.num_threads = 1;
    options.collections.max_k = 100;
    options.collections.max_batch_queries = 16;
    options.collections.collection.auto_snapshot_log_bytes = 1 << 20;
    auto c = search::SearchCore::Create(options);
    Must(c.status(), "SearchCore::Create");
    search::SearchCore* core = c->release();
    Fill(core);
    return core;
  }();
  return *core;
}

std::string Redirect(const std::string& name) { return name == "c" ? "u" : name; }

void CheckAnswer(const v1::SearchResponse& response, uint32_t requested_k) {
  const int k = requested_k == 0 ? 10 : static_cast<int>(requested_k);
  if (response.neighbors_size() > k) {
    Violation(absl::StrCat(response.neighbors_size(), " neighbours for k = ", k));
  }
}

void Search(const std::string& bytes) {
  v1::SearchRequest request;
  if (!request.ParseFromString(bytes)) return;
  v1::SearchResponse response;
  std::optional<absl::Status> status;
  Core().Search(request, absl::InfiniteFuture(), /*cancel=*/nullptr, &response,
                [&status](const absl::Status& s) {
                  if (status.has_value()) Violation("Search answered twice");
                  status = s;
                });
  // Without an encoder every query, image ones included, answers inline.
  if (!status.has_value()) Violation("Search did not answer inline");
  CheckCode(*status, "Search");
  if (status->ok()) CheckAnswer(response, request.k());
}

void SearchBatch(const std::string& bytes) {
  v1::SearchBatchRequest request;
  if (!request.ParseFromString(bytes)) return;
  absl::StatusOr<v1::SearchBatchResponse> r = Core().SearchBatch(request);
  CheckCode(r.status(), "SearchBatch");
  if (!r.ok()) return;
  if (r->results_size() != request.queries_size()) {
    Violation("SearchBatch: one answer per query expected");
  }
  for (int i = 0; i < r->results_size(); ++i) CheckAnswer(r->results(i), request.queries(i).k());
}

void Create(const std::string& bytes) {
  v1::CreateCollectionRequest request;
  if (!request.ParseFromString(bytes)) return;
  const bool fixed = request.name() == "c" || request.name() == "u";
  if (fixed) request.set_if_not_exists(true);
  absl::StatusOr<v1::CollectionInfo> info = Core().CreateCollection(request);
  CheckCode(info.status(), "CreateCollection");
  if (!info.ok() || fixed) return;
  v1::GetCollectionRequest get;
  get.set_name(request.name());
  CheckCode(Core().GetCollection(get).status(), "GetCollection");
  v1::DropCollectionRequest drop;
  drop.set_name(request.name());
  if (absl::Status s = Core().DropCollection(drop).status(); !s.ok()) {
    Violation("dropping a collection just created failed: " + s.ToString());
  }
}

// A one-message Upsert stream.
void Upsert(const std::string& bytes) {
  v1::UpsertRequest request;
  if (!request.ParseFromString(bytes)) return;
  if (!request.collection().empty()) request.set_collection(Redirect(request.collection()));
  std::unique_ptr<search::UpsertStream> stream = Core().NewUpsertStream();
  absl::Status s = stream->Add(request);
  CheckCode(s, "Upsert");
  if (!s.ok()) return;
  absl::StatusOr<v1::UpsertResponse> r = stream->Finish();
  CheckCode(r.status(), "Upsert");
  if (!r.ok()) return;
  if (r->inserted() + r->replaced() != static_cast<uint64_t>(request.items_size()) ||
      r->upserted() != static_cast<uint64_t>(request.items_size())) {
    Violation("Upsert counts do not add up to the message");
  }
  // Keep the scratch collection small.
  v1::DeleteRequest del;
  del.set_collection(request.collection());
  for (const v1::Item& item : request.items()) del.add_ids(item.id());
  if (!Core().Delete(del).ok()) Violation("deleting upserted ids failed");
}

void Delete(const std::string& bytes) {
  v1::DeleteRequest request;
  if (!request.ParseFromString(bytes)) return;
  request.set_collection(Redirect(request.collection()));
  CheckCode(Core().Delete(request).status(), "Delete");
}

}  // namespace

// Invalid UTF-8 in string fields is a parse failure; protobuf also logs
// each one, which would drown libFuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      Search(bytes);
      break;
    case 1:
      SearchBatch(bytes);
      break;
    case 2:
      Create(bytes);
      break;
    case 3:
      Upsert(bytes);
      break;
    case 4:
      Delete(bytes);
      break;
  }
  return 0;
}

// Search service request handling on arbitrary proto bytes: the same steps
// as services/search/search_core.cc (proto -> convert -> CollectionManager
// -> proto) against an in-process manager holding small collections.
//
// Input: u8 kind | serialized request.
//   kind % 5: 0 SearchRequest, 1 SearchBatchRequest,
//             2 CreateCollectionRequest (created, read back, dropped),
//             3 UpsertRequest, 4 DeleteRequest.
// Writes go to the scratch collection "u" (a request naming "c", the
// collection searches use, is redirected there so "c" stays fixed).
// Nothing may crash, and a client's bad request is never INTERNAL, UNKNOWN
// or DATA_LOSS; answers hold at most k neighbours.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "latentsearch/v1/search.pb.h"
#include "services/search/collection_manager.h"
#include "services/search/convert.h"
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

search::CollectionManager& Core() {
  static search::CollectionManager* core = [] {
    search::CollectionManagerOptions options;
    options.data_dir = ScratchDir() + "/search";
    options.num_threads = 1;
    options.max_k = 100;
    options.max_batch_queries = 16;
    options.collection.auto_snapshot_log_bytes = 1 << 20;
    auto c = search::CollectionManager::Create(options);
    Must(c.status(), "CollectionManager::Create");
    search::CollectionManager* core = c->release();
    for (const char* name : {"c", "u"}) {
      search::CreateSpec spec;
      spec.name = name;
      spec.dim = kDim;
      spec.hnsw = std::string(name) == "c";
      spec.m = 4;
      spec.ef_construction = 16;
      Must(core->CreateCollection(spec).status(), "CreateCollection");
    }
    index::ItemBatch batch;
    for (int i = 0; i < 64; ++i) {
      batch.metas.push_back({absl::StrCat("i", i), i % 4, absl::StrCat("u", i)});
      for (uint32_t d = 0; d < kDim; ++d) {
        batch.vectors.push_back(static_cast<float>((i * 7 + d * 3) % 11) - 5.0f);
      }
    }
    Must(core->Upsert("c", batch).status(), "Upsert");
    Must(core->Snapshot("c").status(), "Snapshot");
    return core;
  }();
  return *core;
}

std::string Redirect(const std::string& name) { return name == "c" ? "u" : name; }

void CheckAnswer(const search::SearchAnswer& a, const search::QueryOptions& o) {
  const size_t k = o.k == 0 ? 10 : o.k;
  if (a.result.hits.size() > k) {
    Violation(absl::StrCat(a.result.hits.size(), " hits for k = ", k));
  }
  v1::SearchResponse response;
  search::SearchAnswerToProto(a, o, &response);
}

void Search(const std::string& bytes) {
  v1::SearchRequest request;
  if (!request.ParseFromString(bytes)) return;
  search::Query query;
  search::QueryOptions options;
  if (request.has_image()) {
    // Encoded by the encoder first; only the options are checked here.
    CheckCode(search::OptionsFromProto(request, &options), "OptionsFromProto");
    return;
  }
  absl::Status s = search::SearchFromProto(request, &query, &options);
  CheckCode(s, "SearchFromProto");
  if (!s.ok()) return;
  absl::StatusOr<search::SearchAnswer> a = Core().Search(request.collection(), query, options);
  CheckCode(a.status(), "Search");
  if (a.ok()) CheckAnswer(*a, options);
}

void SearchBatch(const std::string& bytes) {
  v1::SearchBatchRequest request;
  if (!request.ParseFromString(bytes)) return;
  std::vector<search::Query> queries(request.queries_size());
  std::vector<search::QueryOptions> options(request.queries_size());
  for (int i = 0; i < request.queries_size(); ++i) {
    if (request.queries(i).has_image()) return;  // UNIMPLEMENTED in the service.
    absl::Status s = search::SearchFromProto(request.queries(i), &queries[i], &options[i]);
    CheckCode(s, "SearchFromProto");
    if (!s.ok()) return;
  }
  absl::StatusOr<std::vector<search::SearchAnswer>> a =
      Core().SearchBatch(request.collection(), queries, options);
  CheckCode(a.status(), "SearchBatch");
  if (!a.ok()) return;
  if (a->size() != queries.size()) Violation("SearchBatch: one answer per query expected");
  for (size_t i = 0; i < a->size(); ++i) CheckAnswer((*a)[i], options[i]);
}

void Create(const std::string& bytes) {
  v1::CreateCollectionRequest request;
  if (!request.ParseFromString(bytes)) return;
  absl::StatusOr<search::CreateSpec> spec = search::CreateSpecFromProto(request);
  CheckCode(spec.status(), "CreateSpecFromProto");
  if (!spec.ok()) return;
  if (spec->name == "c" || spec->name == "u") spec->if_not_exists = true;
  absl::StatusOr<search::CollectionInfo> info = Core().CreateCollection(*spec);
  CheckCode(info.status(), "CreateCollection");
  if (!info.ok() || spec->name == "c" || spec->name == "u") return;
  v1::CollectionInfo proto;
  search::CollectionInfoToProto(*info, &proto);
  CheckCode(Core().GetCollection(spec->name).status(), "GetCollection");
  if (absl::Status s = Core().DropCollection(spec->name); !s.ok()) {
    Violation("dropping a collection just created failed: " + s.ToString());
  }
}

// As UpsertReactor::Apply for a one-message stream.
void Upsert(const std::string& bytes) {
  v1::UpsertRequest request;
  if (!request.ParseFromString(bytes) || request.collection().empty()) return;
  const std::string name = Redirect(request.collection());
  index::ItemBatch batch;
  for (const v1::Item& item : request.items()) {
    batch.metas.push_back({item.id(), item.label(), item.uri()});
    batch.vectors.insert(batch.vectors.end(), item.vector().begin(), item.vector().end());
  }
  absl::StatusOr<search::CollectionInfo> info = Core().GetCollection(name);
  CheckCode(info.status(), "GetCollection");
  if (!info.ok()) return;
  for (const v1::Item& item : request.items()) {
    if (static_cast<uint32_t>(item.vector_size()) != info->config.dim) return;
  }
  absl::StatusOr<index::UpsertCounts> counts = Core().Upsert(name, batch);
  CheckCode(counts.status(), "Upsert");
  if (!counts.ok()) return;
  if (counts->inserted + counts->replaced != batch.metas.size()) {
    Violation("Upsert counts do not add up to the batch");
  }
  // Keep the scratch collection small.
  std::vector<std::string> ids;
  for (const index::ItemMeta& m : batch.metas) ids.push_back(m.id);
  if (!Core().Delete(name, ids).ok()) Violation("deleting upserted ids failed");
}

void Delete(const std::string& bytes) {
  v1::DeleteRequest request;
  if (!request.ParseFromString(bytes)) return;
  std::vector<std::string> ids(request.ids().begin(), request.ids().end());
  auto r = Core().Delete(Redirect(request.collection()), ids);
  CheckCode(r.status(), "Delete");
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

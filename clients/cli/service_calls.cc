#include "clients/cli/service_calls.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::cli {

absl::StatusOr<v1::CollectionInfo> GetCollection(const Endpoint& search, const std::string& name) {
  auto stub = v1::Search::NewStub(search.channel);
  grpc::ClientContext ctx;
  SetDeadline(search, &ctx);
  v1::GetCollectionRequest req;
  req.set_name(name);
  v1::CollectionInfo info;
  LS_RETURN_IF_ERROR(RpcError(search, stub->GetCollection(&ctx, req, &info)));
  return info;
}

absl::StatusOr<std::vector<v1::Item>> ListAllItems(const Endpoint& search, const std::string& name,
                                                   bool include_vectors) {
  auto stub = v1::Search::NewStub(search.channel);
  std::vector<v1::Item> items;
  v1::ListItemsRequest req;
  req.set_collection(name);
  // Vectors of up to 4,096 floats: keep a page well under the message limit.
  req.set_page_size(include_vectors ? 1000 : 10000);
  req.set_include_vectors(include_vectors);
  while (true) {
    grpc::ClientContext ctx;
    SetDeadline(search, &ctx);
    v1::ListItemsResponse resp;
    LS_RETURN_IF_ERROR(RpcError(search, stub->ListItems(&ctx, req, &resp)));
    for (v1::Item& item : *resp.mutable_items()) items.push_back(std::move(item));
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  return items;
}

absl::StatusOr<v1::CheckpointMetadata> EncoderModel(const Endpoint& encoder,
                                                    const std::string& name, uint64_t version) {
  auto stub = v1::Encoder::NewStub(encoder.channel);
  grpc::ClientContext ctx;
  SetDeadline(encoder, &ctx);
  v1::ListModelsRequest req;
  const std::string want = name.empty() ? "default" : name;
  req.set_name(want);
  v1::ListModelsResponse resp;
  LS_RETURN_IF_ERROR(RpcError(encoder, stub->ListModels(&ctx, req, &resp)));
  const v1::CheckpointMetadata* best = nullptr;
  std::vector<std::string> held;
  for (const v1::ModelInfo& m : resp.models()) {
    if (m.metadata().model().name() != want) continue;
    held.push_back(absl::StrCat("v", m.metadata().model().version()));
    if (version != 0
            ? m.metadata().model().version() == version
            : best == nullptr || m.metadata().model().version() > best->model().version()) {
      best = &m.metadata();
    }
  }
  if (best == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("the encoder at ", encoder.address, " holds no model '", want, "'",
                     version != 0 ? absl::StrCat(" version ", version) : "",
                     held.empty() ? "; train one first (latentsearch train) or pick --model"
                                  : absl::StrCat("; it holds ", absl::StrJoin(held, ", "))));
  }
  return *best;
}

absl::Status WaitForIndexes(const Endpoint& search, const std::string& name, double max_seconds,
                            const std::function<void(const v1::CollectionInfo&)>& tick) {
  const absl::Time end = absl::Now() + absl::Seconds(max_seconds);
  while (true) {
    LS_ASSIGN_OR_RETURN(v1::CollectionInfo info, GetCollection(search, name));
    if (tick) tick(info);
    bool ready = true;
    for (const v1::IndexStats& s : info.indexes()) {
      if (s.kind() == v1::INDEX_KIND_HNSW && s.state() == v1::INDEX_STATE_BUILDING) {
        ready = false;
      }
    }
    if (ready || absl::Now() >= end) return absl::OkStatus();
    // Polling a remote service's state: nothing to wait on locally.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

absl::StatusOr<v1::CollectionInfo> NewestCollectionOf(const Endpoint& search,
                                                      const std::string& model_name) {
  auto stub = v1::Search::NewStub(search.channel);
  grpc::ClientContext ctx;
  SetDeadline(search, &ctx);
  v1::ListCollectionsResponse resp;
  LS_RETURN_IF_ERROR(
      RpcError(search, stub->ListCollections(&ctx, v1::ListCollectionsRequest(), &resp)));
  const std::string want = model_name.empty() ? "default" : model_name;
  const v1::CollectionInfo* best = nullptr;
  for (const v1::CollectionInfo& c : resp.collections()) {
    const std::string have = c.model().name().empty() ? "default" : c.model().name();
    if (have != want || c.model().version() == 0) continue;
    if (best == nullptr || c.model().version() > best->model().version()) best = &c;
  }
  if (best == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no collection at ", search.address, " holds vectors of model '", want,
                     "'; name one with --collection or create one with latentsearch ingest"));
  }
  return *best;
}

std::string DefaultCollectionName(const v1::ModelRef& model) {
  return absl::StrCat(model.name().empty() ? "default" : model.name(), "-v", model.version());
}

}  // namespace latentsearch::cli

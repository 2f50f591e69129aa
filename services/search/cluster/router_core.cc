// RouterCore: dispatches the Search and Cluster calls to the fan-outs and
// admin functions (router_core.h).
// Thread-safety: see router_core.h.
#include "services/search/cluster/router_core.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "services/search/cluster/router_cluster_admin.h"
#include "services/search/cluster/router_collections.h"
#include "services/search/cluster/router_etcd_store.h"
#include "services/search/cluster/router_list_items.h"
#include "services/search/cluster/router_search.h"
#include "services/search/cluster/router_validate.h"
#include "services/search/cluster/router_write.h"
#include "services/search/search_core.h"

namespace latentsearch::search::cluster {
namespace {

// Cancels `cancels` when the client's call is cancelled.
std::shared_ptr<CancelGroup> CancelsOf(Cancellation* cancel) {
  auto cancels = std::make_shared<CancelGroup>();
  if (cancel != nullptr) cancel->OnCancel([cancels] { cancels->CancelAll(); });
  return cancels;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RouterCore>> RouterCore::Create(RouterCoreOptions options) {
  if (!options.dial) {
    return absl::InvalidArgumentError("the router needs a node dialer (RouterCoreOptions::dial)");
  }
  if (options.store == nullptr) {
    if (options.etcd_endpoints.empty()) {
      return absl::InvalidArgumentError(
          "the router needs etcd endpoints (--etcd=http://HOST:2379[,...]) for the placement");
    }
    LS_ASSIGN_OR_RETURN(options.store, EtcdRouterStore::Create(options.etcd_endpoints));
  }
  ClusterViewOptions view_options;
  view_options.store = options.store;
  view_options.dial = options.dial;
  view_options.refresh_interval = options.refresh_interval;
  view_options.poll_timeout = options.poll_timeout;
  view_options.on_resync = options.on_resync;
  LS_ASSIGN_OR_RETURN(std::unique_ptr<ClusterView> view,
                      ClusterView::Create(std::move(view_options)));
  std::unique_ptr<RouterCore> core(new RouterCore(std::move(options), std::move(view)));
  if (absl::Status s = core->Refresh(); !s.ok()) {
    LOG(WARNING) << "router: the first placement read failed (retried every refresh): " << s;
  }
  if (core->options_.refresh_thread) core->view_->Start();
  return core;
}

RouterCore::RouterCore(RouterCoreOptions options, std::unique_ptr<ClusterView> view)
    : options_(std::move(options)),
      view_(std::move(view)),
      workers_(options_.worker_threads),
      ctx_{&options_, view_.get(), &timer_, &workers_, &ops_, &clock_} {
  view_->SetAfterRefresh([this](const ViewState& state) { FinishCaughtUpMoves(ctx_, state); });
}

RouterCore::~RouterCore() {
  view_->Stop();
  ops_.Wait();
}

absl::Status RouterCore::Refresh() { return view_->Refresh(); }

template <typename Response, typename Fn>
void RouterCore::OnWorker(Response* response, Done done, Fn fn) {
  workers_.Schedule([token = ops_.Hold(), response, done = std::move(done), fn = std::move(fn)] {
    absl::StatusOr<Response> r = fn();
    if (r.ok()) *response = *std::move(r);
    done(r.status());
  });
}

void RouterCore::ResolvePlacement(const std::string& name,
                                  std::function<void(absl::StatusOr<StoredPlacement>)> then) {
  const std::shared_ptr<const ViewState> state = view_->Current();
  if (const StoredPlacement* p = state->Find(name)) return then(*p);
  workers_.Schedule([this, token = ops_.Hold(), name, then = std::move(then)] {
    then(FindPlacement(ctx_, name));
  });
}

void RouterCore::CreateCollection(const v1::CreateCollectionRequest& request, absl::Time deadline,
                                  v1::CollectionInfo* response, Done done) {
  OnWorker(response, std::move(done), [this, request, deadline] {
    return CreateClusteredCollection(ctx_, request, deadline);
  });
}

void RouterCore::DropCollection(const v1::DropCollectionRequest& request, absl::Time,
                                v1::DropCollectionResponse* response, Done done) {
  OnWorker(response, std::move(done), [this, name = request.name()] {
    absl::Status s = DropClusteredCollection(ctx_, name);
    if (!s.ok()) return absl::StatusOr<v1::DropCollectionResponse>(s);
    return absl::StatusOr<v1::DropCollectionResponse>(v1::DropCollectionResponse());
  });
}

void RouterCore::ListCollections(const v1::ListCollectionsRequest&, absl::Time deadline,
                                 v1::ListCollectionsResponse* response, Done done) {
  OnWorker(response, std::move(done),
           [this, deadline] { return ListClusteredCollections(ctx_, deadline); });
}

void RouterCore::GetCollection(const v1::GetCollectionRequest& request, absl::Time deadline,
                               v1::CollectionInfo* response, Done done) {
  OnWorker(response, std::move(done), [this, name = request.name(), deadline] {
    return GetClusteredCollection(ctx_, name, deadline);
  });
}

void RouterCore::ListItems(const v1::ListItemsRequest& request, absl::Time deadline,
                           v1::ListItemsResponse* response, Done done) {
  OnWorker(response, std::move(done),
           [this, request, deadline]() -> absl::StatusOr<v1::ListItemsResponse> {
             LS_ASSIGN_OR_RETURN(StoredPlacement p, FindPlacement(ctx_, request.collection()));
             return ListItemsAcrossShards(ctx_, p.placement, request, ctx_.Bound(deadline));
           });
}

void RouterCore::Snapshot(const v1::SnapshotRequest& request, absl::Time deadline,
                          v1::SnapshotResponse* response, Done done) {
  OnWorker(response, std::move(done), [this, request, deadline] {
    return SnapshotClusteredCollection(ctx_, request, deadline);
  });
}

void RouterCore::Status(const v1::ClusterStatusRequest&, v1::ClusterStatusResponse* response,
                        Done done) {
  OnWorker(response, std::move(done), [this]() -> absl::StatusOr<v1::ClusterStatusResponse> {
    if (absl::Status s = view_->Refresh(); !s.ok()) {
      LOG(WARNING) << "cluster status: answering from the last placement read: " << s;
    }
    return ClusterStatus(ctx_, *view_->Current());
  });
}

void RouterCore::Rebalance(const v1::RebalanceRequest& request, v1::RebalanceResponse* response,
                           Done done) {
  OnWorker(response, std::move(done),
           [this, request] { return cluster::Rebalance(ctx_, request); });
}

uint64_t RouterCore::ShardItems(const v1::CollectionPlacement& placement, uint32_t shard) const {
  const std::shared_ptr<const ViewState> state = view_->Current();
  uint64_t items = 0;
  if (shard >= static_cast<uint32_t>(placement.shards_size())) return 0;
  for (const v1::ReplicaPlacement& r : placement.shards(shard).replicas()) {
    const v1::NodeReplica* seen = state->Replica(r.node(), placement.spec().name(), shard);
    if (seen != nullptr && seen->state() == v1::REPLICA_STATE_SERVING) {
      items = std::max<uint64_t>(items, seen->item_count());
    }
  }
  return items;
}

std::unique_ptr<RouterUpsertStream> RouterCore::NewUpsertStream() {
  return std::unique_ptr<RouterUpsertStream>(new RouterUpsertStream(this));
}

void RouterUpsertStream::Add(const v1::UpsertRequest& request, Done done) {
  ++messages_;
  if (collection_.empty()) {
    if (request.collection().empty()) {
      return done(absl::InvalidArgumentError("the first Upsert message must name the collection"));
    }
    collection_ = request.collection();
  } else if (!request.collection().empty() && request.collection() != collection_) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("message ", messages_, " names collection '", request.collection(),
                     "' but the stream upserts into '", collection_, "'")));
  }
  // The placement is looked up for every message: a move may have added a
  // JOINING replica, which must get every write from now on.
  core_->ResolvePlacement(collection_, [this, request, done = std::move(done)](
                                           absl::StatusOr<StoredPlacement> placement) {
    if (!placement.ok()) return done(placement.status());
    Write(*placement, request, std::move(done));
  });
}

void RouterUpsertStream::Write(const StoredPlacement& stored, const v1::UpsertRequest& request,
                               Done done) {
  const v1::CollectionPlacement& placement = stored.placement;
  if (messages_ == 1) {
    absl::StatusOr<v1::ConsistencyLevel> level =
        WriteLevel(request.consistency(), placement.spec());
    if (!level.ok()) return done(level.status());
    level_ = *level;
  }
  if (absl::Status s = ValidateItems(request, placement.spec().dim(), messages_, collection_);
      !s.ok()) {
    return done(s);
  }
  std::vector<v1::VersionedItem> items(request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    *items[i].mutable_item() = request.items(i);
    items[i].set_version(core_->clock_.Now());
  }
  const uint64_t received = items.size();
  WriteFanout::Start(core_->ctx_, placement, level_,
                     SplitByShard(collection_, placement.spec().shards(), std::move(items)),
                     [this, received, done = std::move(done)](absl::StatusOr<WriteAcks> acks) {
                       if (!acks.ok()) return done(acks.status());
                       response_.set_upserted(response_.upserted() + received);
                       for (const auto& [shard, ack] : *acks) {
                         response_.set_inserted(response_.inserted() + ack.inserted());
                         response_.set_replaced(response_.replaced() + ack.replaced());
                         shard_items_[shard] = ack.item_count();
                       }
                       done(absl::OkStatus());
                     });
}

absl::StatusOr<v1::UpsertResponse> RouterUpsertStream::Finish() {
  if (collection_.empty()) {
    return absl::InvalidArgumentError(
        "empty Upsert stream: the first message must name the collection");
  }
  v1::UpsertResponse out = response_;
  if (const StoredPlacement* p = core_->view_->Current()->Find(collection_)) {
    uint64_t items = 0;
    for (uint32_t shard = 0; shard < p->placement.spec().shards(); ++shard) {
      auto it = shard_items_.find(shard);
      items += it != shard_items_.end() ? it->second : core_->ShardItems(p->placement, shard);
    }
    out.set_item_count(items);
  } else {
    for (const auto& [shard, items] : shard_items_) out.set_item_count(out.item_count() + items);
  }
  return out;
}

void RouterCore::Delete(const v1::DeleteRequest& request, absl::Time, v1::DeleteResponse* response,
                        Done done) {
  ResolvePlacement(request.collection(), [this, request, response, done = std::move(done)](
                                             absl::StatusOr<StoredPlacement> stored) {
    if (!stored.ok()) return done(stored.status());
    const v1::CollectionPlacement& placement = stored->placement;
    absl::StatusOr<v1::ConsistencyLevel> level =
        WriteLevel(request.consistency(), placement.spec());
    if (!level.ok()) return done(level.status());
    std::vector<v1::VersionedItem> items(request.ids_size());
    for (int i = 0; i < request.ids_size(); ++i) {
      items[i].mutable_item()->set_id(request.ids(i));
      items[i].set_deleted(true);
      items[i].set_version(clock_.Now());
    }
    WriteFanout::Start(
        ctx_, placement, *level,
        SplitByShard(request.collection(), placement.spec().shards(), std::move(items)),
        [response, done](absl::StatusOr<WriteAcks> acks) {
          if (!acks.ok()) return done(acks.status());
          for (const auto& [shard, ack] : *acks) {
            response->set_deleted(response->deleted() + ack.deleted());
            response->set_not_found(response->not_found() + ack.not_found());
          }
          done(absl::OkStatus());
        });
  });
}

void RouterCore::Search(const v1::SearchRequest& request, absl::Time deadline, Cancellation* cancel,
                        v1::SearchResponse* response, Done done) {
  ResolvePlacement(
      request.collection(), [this, request, deadline, cancel, response,
                             done = std::move(done)](absl::StatusOr<StoredPlacement> stored) {
        if (!stored.ok()) return done(stored.status());
        if (request.has_image()) {
          return SearchByImage(*stored, request, deadline, cancel, response, std::move(done));
        }
        if (absl::Status s = ValidateQuery(request, stored->placement.spec(), options_.max_k, "");
            !s.ok()) {
          return done(s);
        }
        auto batch = std::make_shared<v1::SearchBatchRequest>();
        batch->set_collection(request.collection());
        batch->set_allow_partial(request.allow_partial());
        *batch->add_queries() = request;
        auto answers = std::make_shared<v1::SearchBatchResponse>();
        RunBatch(*stored, std::move(batch), deadline, cancel, answers.get(),
                 [answers, response, done](const absl::Status& s) {
                   if (s.ok()) *response = std::move(*answers->mutable_results(0));
                   done(s);
                 });
      });
}

void RouterCore::SearchByImage(const StoredPlacement& stored, const v1::SearchRequest& request,
                               absl::Time deadline, Cancellation* cancel,
                               v1::SearchResponse* response, Done done) {
  const v1::CreateCollectionRequest& spec = stored.placement.spec();
  if (options_.encoder == nullptr) {
    return done(
        absl::UnavailableError("search by image needs the encoder service: start the router with "
                               "--encoder=HOST:PORT (or search by vector or item_id)"));
  }
  if (absl::Status s = ValidateQueryOptions(request, spec, options_.max_k, ""); !s.ok()) {
    return done(s);
  }
  if (spec.model().name().empty() && spec.model().version() == 0) {
    return done(absl::FailedPreconditionError(
        absl::StrCat("collection '", spec.name(),
                     "' was created without a model reference, so it cannot be searched by "
                     "image; search by vector or item_id")));
  }
  v1::EncodeRequest encode;
  *encode.mutable_model() = spec.model();
  *encode.add_images() = request.image();
  options_.encoder->Encode(
      encode, deadline, cancel,
      [this, stored, request, deadline, cancel, response,
       done = std::move(done)](absl::StatusOr<v1::EncodeResponse> encoded) {
        absl::StatusOr<std::vector<float>> vector =
            QueryVector(std::move(encoded), stored.placement.spec().model(), request.collection());
        if (!vector.ok()) return done(vector.status());
        v1::SearchRequest query = request;
        query.mutable_vector()->mutable_values()->Assign(vector->begin(), vector->end());
        if (absl::Status s = ValidateQuery(query, stored.placement.spec(), options_.max_k,
                                           "the encoded image: ");
            !s.ok()) {
          return done(absl::InternalError(s.message()));
        }
        auto batch = std::make_shared<v1::SearchBatchRequest>();
        batch->set_collection(request.collection());
        batch->set_allow_partial(request.allow_partial());
        *batch->add_queries() = std::move(query);
        auto answers = std::make_shared<v1::SearchBatchResponse>();
        RunBatch(stored, std::move(batch), deadline, cancel, answers.get(),
                 [answers, response, done](const absl::Status& s) {
                   if (s.ok()) *response = std::move(*answers->mutable_results(0));
                   done(s);
                 });
      });
}

void RouterCore::SearchBatch(const v1::SearchBatchRequest& request, absl::Time deadline,
                             Cancellation* cancel, v1::SearchBatchResponse* response, Done done) {
  ResolvePlacement(request.collection(), [this, request, deadline, cancel, response,
                                          done = std::move(done)](
                                             absl::StatusOr<StoredPlacement> stored) {
    if (!stored.ok()) return done(stored.status());
    if (request.queries_size() > static_cast<int>(options_.max_batch_queries)) {
      return done(absl::InvalidArgumentError(
          absl::StrCat(request.queries_size(), " queries in one batch; allowed at most ",
                       options_.max_batch_queries, " (--max_batch_queries)")));
    }
    for (int i = 0; i < request.queries_size(); ++i) {
      if (request.queries(i).has_image()) {
        return done(absl::UnimplementedError(absl::StrCat(
            "query ", i,
            ": image queries are not supported in SearchBatch yet; use Search for each image")));
      }
      const std::string where = request.queries_size() > 1 ? absl::StrCat("query ", i, ": ") : "";
      absl::Status s =
          ValidateQuery(request.queries(i), stored->placement.spec(), options_.max_k, where);
      if (!s.ok()) return done(s);
    }
    RunBatch(*stored, std::make_shared<v1::SearchBatchRequest>(request), deadline, cancel, response,
             std::move(done));
  });
}

void RouterCore::RunBatch(const StoredPlacement& stored,
                          std::shared_ptr<v1::SearchBatchRequest> batch, absl::Time deadline,
                          Cancellation* cancel, v1::SearchBatchResponse* response, Done done) {
  RouterSearch::Run(ctx_, stored.placement, std::move(batch), ctx_.Bound(deadline),
                    CancelsOf(cancel), response, std::move(done));
}

}  // namespace latentsearch::search::cluster

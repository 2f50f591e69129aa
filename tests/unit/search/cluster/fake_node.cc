// FakeNode, an in-memory SearchNode for the router's tests (fake_node.h).
// Thread-safety: state under mu_; held reactors answer once.
#include "tests/unit/search/cluster/fake_node.h"

#include <algorithm>
#include <atomic>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/index/metric.h"
#include "common/index/metric_proto.h"

namespace latentsearch::search::cluster::testing {
namespace {

grpc::Status Unavailable(const std::string& message) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message);
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// `status` answers the call; else *response is already filled.
template <typename T>
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, absl::StatusOr<T> result,
                                 T* response) {
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  if (result.ok()) *response = *std::move(result);
  r->Finish(ToGrpc(result.status()));
  return r;
}

std::string Describe(const v1::ShardRef& ref) {
  return absl::StrCat(ref.collection(), "/", ref.shard());
}

// Whether `incoming` replaces `held` (last writer wins; a delete wins a tie).
bool Wins(const v1::VersionedItem& incoming, const FakeNode::Entry& held) {
  if (incoming.version() != held.version) return incoming.version() > held.version;
  return incoming.deleted() && !held.deleted;
}

}  // namespace

class FakeNode::HeldReactor final : public grpc::ServerUnaryReactor {
 public:
  void Answer(const grpc::Status& status) {
    if (!answered_.exchange(true)) Finish(status);
  }
  void OnCancel() override { Answer(grpc::Status::CANCELLED); }
  void OnDone() override {}  // Owned by the node.

 private:
  std::atomic<bool> answered_{false};
};

FakeNode::FakeNode(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<FakeNode>> FakeNode::Start(Options options) {
  std::unique_ptr<FakeNode> node(new FakeNode(std::move(options)));
  rpc::ServerOptions so;
  so.enable_reflection = false;
  auto server = rpc::Server::Start(so, {node.get()});
  if (!server.ok()) return server.status();
  node->server_ = *std::move(server);
  return node;
}

FakeNode::~FakeNode() {
  Release();
  server_->Shutdown(absl::ZeroDuration());
}

void FakeNode::SetReads(Mode mode) {
  absl::MutexLock lock(&mu_);
  reads_ = mode;
}

void FakeNode::SetWrites(Mode mode) {
  absl::MutexLock lock(&mu_);
  writes_ = mode;
}

void FakeNode::SetDown(bool down) {
  absl::MutexLock lock(&mu_);
  down_ = down;
}

void FakeNode::Release() {
  std::vector<HeldReactor*> held;
  {
    absl::MutexLock lock(&mu_);
    for (auto& h : held_) held.push_back(h.get());
  }
  for (HeldReactor* h : held) h->Answer(Unavailable("released by the test"));
}

void FakeNode::AddReplica(const std::string& collection, uint32_t shard, uint32_t dim) {
  absl::MutexLock lock(&mu_);
  Replica& r = replicas_[{collection, shard}];
  r.dim = dim;
  r.state =
      options_.new_replicas_catch_up ? v1::REPLICA_STATE_CATCHING_UP : v1::REPLICA_STATE_SERVING;
}

void FakeNode::FinishCatchUp(const std::string& collection, uint32_t shard) {
  absl::MutexLock lock(&mu_);
  auto it = replicas_.find({collection, shard});
  if (it != replicas_.end()) it->second.state = v1::REPLICA_STATE_SERVING;
}

bool FakeNode::Holds(const std::string& collection, uint32_t shard) const {
  absl::MutexLock lock(&mu_);
  return replicas_.count({collection, shard}) > 0;
}

v1::ReplicaState FakeNode::StateOf(const std::string& collection, uint32_t shard) const {
  absl::MutexLock lock(&mu_);
  auto it = replicas_.find({collection, shard});
  return it == replicas_.end() ? v1::REPLICA_STATE_MISSING : it->second.state;
}

std::map<std::string, FakeNode::Entry> FakeNode::Entries(const std::string& collection,
                                                         uint32_t shard) const {
  absl::MutexLock lock(&mu_);
  auto it = replicas_.find({collection, shard});
  return it == replicas_.end() ? std::map<std::string, Entry>() : it->second.entries;
}

int FakeNode::Calls(const std::string& rpc) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(rpc);
  return it == calls_.end() ? 0 : it->second;
}

int FakeNode::Resyncs(const std::string& collection, uint32_t shard) const {
  absl::MutexLock lock(&mu_);
  auto it = resyncs_.find({collection, shard});
  return it == resyncs_.end() ? 0 : it->second;
}

void FakeNode::AwaitResyncs(const std::string& collection, uint32_t shard, int n) const {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = resyncs_.find({collection, shard});
    return it != resyncs_.end() && it->second >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

void FakeNode::AwaitHeld(int n) const {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return holding_ >= n; };
  mu_.Await(absl::Condition(&enough));
}

grpc::ServerUnaryReactor* FakeNode::Gate(grpc::CallbackServerContext* ctx, const std::string& rpc,
                                         Kind kind) {
  Mode mode;
  bool down;
  {
    absl::MutexLock lock(&mu_);
    ++calls_[rpc];
    down = down_;
    mode = kind == Kind::kRead ? reads_ : kind == Kind::kWrite ? writes_ : Mode::kServe;
  }
  if (down || mode == Mode::kRefuse) {
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(Unavailable(absl::StrCat("fake node refuses ", rpc)));
    return r;
  }
  if (mode == Mode::kServe) return nullptr;
  auto held = std::make_unique<HeldReactor>();
  HeldReactor* r = held.get();
  absl::MutexLock lock(&mu_);
  held_.push_back(std::move(held));
  ++holding_;
  return r;
}

void FakeNode::Reconcile() {
  if (!options_.placements) return;
  absl::StatusOr<std::vector<v1::CollectionPlacement>> placements = options_.placements();
  if (!placements.ok()) return;
  absl::MutexLock lock(&mu_);
  std::set<Key> assigned;
  for (const v1::CollectionPlacement& p : *placements) {
    for (const v1::ShardPlacement& s : p.shards()) {
      for (const v1::ReplicaPlacement& r : s.replicas()) {
        if (r.node() != address()) continue;
        const Key key{p.spec().name(), s.shard()};
        assigned.insert(key);
        auto it = replicas_.find(key);
        if (it != replicas_.end() && it->second.created_at_us == p.created_at_us()) continue;
        Replica& replica = replicas_[key];
        replica = Replica();
        replica.dim = p.spec().dim();
        replica.created_at_us = p.created_at_us();
        replica.state = options_.new_replicas_catch_up ? v1::REPLICA_STATE_CATCHING_UP
                                                       : v1::REPLICA_STATE_SERVING;
      }
    }
  }
  for (auto it = replicas_.begin(); it != replicas_.end();) {
    it = assigned.count(it->first) > 0 ? std::next(it) : replicas_.erase(it);
  }
}

grpc::ServerUnaryReactor* FakeNode::GetNodeStatus(grpc::CallbackServerContext* ctx,
                                                  const v1::GetNodeStatusRequest*,
                                                  v1::GetNodeStatusResponse* response) {
  if (auto* r = Gate(ctx, "GetNodeStatus", Kind::kStatus)) return r;
  Reconcile();
  v1::GetNodeStatusResponse out;
  out.set_address(address());
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, replica] : replicas_) {
      v1::NodeReplica* r = out.add_replicas();
      r->mutable_ref()->set_collection(key.first);
      r->mutable_ref()->set_shard(key.second);
      r->set_state(replica.state);
      for (const auto& [id, e] : replica.entries) {
        r->set_item_count(r->item_count() + (e.deleted ? 0 : 1));
        r->set_tombstones(r->tombstones() + (e.deleted ? 1 : 0));
        r->set_max_version(std::max(r->max_version(), e.version));
      }
    }
  }
  return Answer(ctx, absl::StatusOr<v1::GetNodeStatusResponse>(std::move(out)), response);
}

absl::StatusOr<v1::ShardWriteResponse> FakeNode::ApplyWrite(const v1::ShardWriteRequest& request) {
  absl::MutexLock lock(&mu_);
  auto it = replicas_.find({request.ref().collection(), request.ref().shard()});
  if (it == replicas_.end()) {
    return absl::NotFoundError(absl::StrCat("no replica ", Describe(request.ref())));
  }
  Replica& replica = it->second;
  for (const v1::VersionedItem& v : request.items()) {
    if (!v.deleted() && static_cast<uint32_t>(v.item().vector_size()) != replica.dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("item '", v.item().id(), "' has ", v.item().vector_size(), " values"));
    }
  }
  v1::ShardWriteResponse out;
  for (const v1::VersionedItem& v : request.items()) {
    auto held = replica.entries.find(v.item().id());
    const bool live = held != replica.entries.end() && !held->second.deleted;
    if (held != replica.entries.end() && !Wins(v, held->second)) {
      out.set_superseded(out.superseded() + 1);
      continue;
    }
    if (v.deleted()) {
      live ? out.set_deleted(out.deleted() + 1) : out.set_not_found(out.not_found() + 1);
    } else {
      live ? out.set_replaced(out.replaced() + 1) : out.set_inserted(out.inserted() + 1);
    }
    Entry& e = replica.entries[v.item().id()];
    e.item = v.deleted() ? v1::Item() : v.item();
    e.item.set_id(v.item().id());
    e.version = v.version();
    e.deleted = v.deleted();
  }
  for (const auto& [id, e] : replica.entries) out.set_item_count(out.item_count() + !e.deleted);
  return out;
}

grpc::ServerUnaryReactor* FakeNode::Write(grpc::CallbackServerContext* ctx,
                                          const v1::ShardWriteRequest* request,
                                          v1::ShardWriteResponse* response) {
  if (auto* r = Gate(ctx, "Write", Kind::kWrite)) return r;
  return Answer(ctx, ApplyWrite(*request), response);
}

absl::Status FakeNode::Readable(const v1::ShardRef& ref, bool allow_catching_up) const {
  auto it = replicas_.find({ref.collection(), ref.shard()});
  if (it == replicas_.end()) return absl::NotFoundError(absl::StrCat("no replica ", Describe(ref)));
  if (it->second.state != v1::REPLICA_STATE_SERVING && !allow_catching_up) {
    return absl::UnavailableError(absl::StrCat("replica ", Describe(ref), " is catching up"));
  }
  return absl::OkStatus();
}

// Exact search by brute force with the index's kernels.
absl::StatusOr<v1::SearchBatchResponse> FakeNode::Search(
    const v1::ShardSearchRequest& request) const {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Readable(request.ref(), false); !s.ok()) return s;
  const Replica& replica = replicas_.at({request.ref().collection(), request.ref().shard()});
  v1::SearchBatchResponse out;
  for (const v1::SearchRequest& q : request.batch().queries()) {
    if (static_cast<uint32_t>(q.vector().values_size()) != replica.dim) {
      return absl::InvalidArgumentError("query vector of the wrong dim");
    }
    auto metric = index::MetricFromProto(q.metric(), true);
    if (!metric.ok()) return metric.status();
    std::vector<float> query(q.vector().values().begin(), q.vector().values().end());
    if (*metric == index::Metric::kCosine) index::NormalizeRows(query.data(), 1, replica.dim);
    std::vector<std::pair<float, const Entry*>> scored;
    for (const auto& [id, e] : replica.entries) {
      if (e.deleted) continue;
      if (q.labels_size() > 0 &&
          std::find(q.labels().begin(), q.labels().end(), e.item.label()) == q.labels().end()) {
        continue;
      }
      std::vector<float> v(e.item.vector().begin(), e.item.vector().end());
      if (*metric == index::Metric::kCosine) index::NormalizeRows(v.data(), 1, replica.dim);
      const float score = index::Score(*metric, query.data(), v.data(), replica.dim);
      scored.emplace_back(index::ScoreToDistance(*metric, score), &e);
    }
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second->item.id() < b.second->item.id();
    });
    const size_t k = q.k() == 0 ? 10 : q.k();
    v1::SearchResponse* r = out.add_results();
    for (size_t i = 0; i < scored.size() && i < k; ++i) {
      v1::Neighbor* n = r->add_neighbors();
      n->set_id(scored[i].second->item.id());
      n->set_distance(scored[i].first);
      n->set_label(scored[i].second->item.label());
      n->set_uri(scored[i].second->item.uri());
      if (q.include_vectors()) *n->mutable_vector() = scored[i].second->item.vector();
    }
    r->set_metric(index::MetricToProto(*metric));
    r->set_index_kind(q.index_kind() == v1::INDEX_KIND_HNSW ? v1::INDEX_KIND_HNSW
                                                            : v1::INDEX_KIND_EXACT);
    r->set_exact_fallback(q.index_kind() == v1::INDEX_KIND_HNSW);
  }
  return out;
}

grpc::ServerUnaryReactor* FakeNode::SearchShard(grpc::CallbackServerContext* ctx,
                                                const v1::ShardSearchRequest* request,
                                                v1::SearchBatchResponse* response) {
  if (auto* r = Gate(ctx, "SearchShard", Kind::kRead)) return r;
  return Answer(ctx, Search(*request), response);
}

grpc::ServerUnaryReactor* FakeNode::GetItems(grpc::CallbackServerContext* ctx,
                                             const v1::GetItemsRequest* request,
                                             v1::GetItemsResponse* response) {
  if (auto* r = Gate(ctx, "GetItems", Kind::kRead)) return r;
  absl::StatusOr<v1::GetItemsResponse> out = [&]() -> absl::StatusOr<v1::GetItemsResponse> {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Readable(request->ref(), false); !s.ok()) return s;
    const Replica& replica = replicas_.at({request->ref().collection(), request->ref().shard()});
    v1::GetItemsResponse items;
    for (const std::string& id : request->ids()) {
      auto it = replica.entries.find(id);
      if (it == replica.entries.end() || it->second.deleted) continue;
      v1::Item* item = items.add_items();
      *item = it->second.item;
      if (!request->include_vectors()) item->clear_vector();
    }
    return items;
  }();
  return Answer(ctx, std::move(out), response);
}

grpc::ServerUnaryReactor* FakeNode::ScanShard(grpc::CallbackServerContext* ctx,
                                              const v1::ScanShardRequest* request,
                                              v1::ScanShardResponse* response) {
  if (auto* r = Gate(ctx, "ScanShard", Kind::kRead)) return r;
  absl::StatusOr<v1::ScanShardResponse> out = [&]() -> absl::StatusOr<v1::ScanShardResponse> {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Readable(request->ref(), request->allow_catching_up()); !s.ok()) return s;
    const Replica& replica = replicas_.at({request->ref().collection(), request->ref().shard()});
    const uint32_t page = request->page_size() == 0 ? 1000 : request->page_size();
    v1::ScanShardResponse scan;
    scan.set_state(replica.state);
    for (const auto& [id, e] : replica.entries) scan.set_item_count(scan.item_count() + !e.deleted);
    for (auto it = replica.entries.upper_bound(request->after_id()); it != replica.entries.end();
         ++it) {
      if (it->second.deleted && !request->include_tombstones()) continue;
      if (static_cast<uint32_t>(scan.items_size()) == page) {
        scan.set_next_after_id(scan.items(scan.items_size() - 1).item().id());
        break;
      }
      v1::VersionedItem* v = scan.add_items();
      *v->mutable_item() = it->second.item;
      if (!request->include_vectors()) v->mutable_item()->clear_vector();
      v->set_version(it->second.version);
      v->set_deleted(it->second.deleted);
    }
    return scan;
  }();
  return Answer(ctx, std::move(out), response);
}

grpc::ServerUnaryReactor* FakeNode::Resync(grpc::CallbackServerContext* ctx,
                                           const v1::ResyncRequest* request,
                                           v1::ResyncResponse* response) {
  if (auto* r = Gate(ctx, "Resync", Kind::kStatus)) return r;
  absl::MutexLock lock(&mu_);
  auto it = replicas_.find({request->ref().collection(), request->ref().shard()});
  if (it == replicas_.end()) {
    return Answer(ctx,
                  absl::StatusOr<v1::ResyncResponse>(
                      absl::NotFoundError(absl::StrCat("no replica ", Describe(request->ref())))),
                  response);
  }
  it->second.state = v1::REPLICA_STATE_CATCHING_UP;
  ++resyncs_[{request->ref().collection(), request->ref().shard()}];
  return Answer(ctx, absl::StatusOr<v1::ResyncResponse>(v1::ResyncResponse()), response);
}

grpc::ServerUnaryReactor* FakeNode::SnapshotShards(grpc::CallbackServerContext* ctx,
                                                   const v1::SnapshotRequest* request,
                                                   v1::SnapshotResponse* response) {
  if (auto* r = Gate(ctx, "SnapshotShards", Kind::kStatus)) return r;
  v1::SnapshotResponse out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, replica] : replicas_) {
      if (!request->collection().empty() && key.first != request->collection()) continue;
      v1::SnapshotInfo* info = out.add_snapshots();
      info->set_collection(absl::StrCat(key.first, ".", key.second));
      info->set_path(absl::StrCat("fake://", address(), "/", key.first, ".", key.second));
      for (const auto& [id, e] : replica.entries) info->set_items(info->items() + !e.deleted);
    }
  }
  return Answer(ctx, absl::StatusOr<v1::SnapshotResponse>(std::move(out)), response);
}

}  // namespace latentsearch::search::cluster::testing

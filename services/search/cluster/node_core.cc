#include "services/search/cluster/node_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "services/search/convert.h"

namespace latentsearch::search::cluster {
namespace {

constexpr uint32_t kMaxScanPage = 10000;

// v1 items of a ShardWriteRequest or a peer's page -> one versioned batch
// for a collection of `dim` (vector lengths checked here; the rest by
// CollectionManager::ValidateItems).
absl::StatusOr<index::VersionedWriteBatch> BatchFromProto(
    const google::protobuf::RepeatedPtrField<v1::VersionedItem>& items, uint32_t dim) {
  index::VersionedWriteBatch batch;
  for (int i = 0; i < items.size(); ++i) {
    const v1::VersionedItem& v = items[i];
    if (v.deleted()) {
      batch.delete_ids.push_back(v.item().id());
      batch.delete_versions.push_back(v.version());
      continue;
    }
    if (static_cast<uint32_t>(v.item().vector_size()) != dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("item ", i, " (id '", v.item().id().substr(0, 64), "') has ",
                       v.item().vector_size(), " values; dim is ", dim));
    }
    batch.upserts.metas.push_back({v.item().id(), v.item().label(), v.item().uri()});
    batch.upserts.vectors.insert(batch.upserts.vectors.end(), v.item().vector().begin(),
                                 v.item().vector().end());
    batch.upsert_versions.push_back(v.version());
  }
  return batch;
}

void EntryToProto(index::VersionedEntry&& e, v1::VersionedItem* out) {
  out->set_version(e.version);
  out->set_deleted(e.deleted);
  v1::Item* item = out->mutable_item();
  item->set_id(std::move(e.meta.id));
  if (e.deleted) return;
  item->set_label(e.meta.label);
  item->set_uri(std::move(e.meta.uri));
  item->mutable_vector()->Assign(e.vector.begin(), e.vector.end());
}

}  // namespace

std::string NodeCore::ReplicaName(const std::string& collection, uint32_t shard) {
  return absl::StrCat(collection, ".", shard);
}

absl::StatusOr<std::unique_ptr<NodeCore>> NodeCore::Create(NodeCoreOptions options,
                                                           std::shared_ptr<PeerScanner> peers) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("a search node needs the address peers dial (--advertise)");
  }
  options.collections.max_name_length = std::max<size_t>(options.collections.max_name_length, 132);
  SearchCoreOptions core_options;
  core_options.collections = options.collections;
  LS_ASSIGN_OR_RETURN(std::unique_ptr<SearchCore> core, SearchCore::Create(core_options));
  return std::unique_ptr<NodeCore>(
      new NodeCore(std::move(options), std::move(core), std::move(peers)));
}

NodeCore::NodeCore(NodeCoreOptions options, std::unique_ptr<SearchCore> core,
                   std::shared_ptr<PeerScanner> peers)
    : options_(std::move(options)),
      core_(std::move(core)),
      collections_(core_->mutable_collections()),
      peers_(std::move(peers)) {}

void NodeCore::Reconcile(const std::vector<v1::CollectionPlacement>& placements) {
  absl::MutexLock l(&mu_);
  for (auto& [name, r] : replicas_) r.unassigned_since = std::min(r.unassigned_since, Now());
  for (const v1::CollectionPlacement& p : placements) {
    for (const v1::ShardPlacement& shard : p.shards()) {
      for (const v1::ReplicaPlacement& replica : shard.replicas()) {
        if (replica.node() == options_.address) Assign(p, shard);
      }
    }
  }
  DropUnassigned();
}

void NodeCore::Assign(const v1::CollectionPlacement& placement, const v1::ShardPlacement& shard) {
  const std::string& collection = placement.spec().name();
  const std::string name = ReplicaName(collection, shard.shard());
  auto it = replicas_.find(name);
  if (it != replicas_.end() && it->second.created_at_us != placement.created_at_us()) {
    // The collection was dropped and created again: the old copy goes now.
    if (absl::Status s = collections_->DropCollection(name); !s.ok()) {
      LOG(WARNING) << "replica " << name << " of an older '" << collection
                   << "' could not be dropped: " << s;
      return;
    }
    replicas_.erase(it);
    it = replicas_.end();
  }
  if (it == replicas_.end()) {
    absl::StatusOr<bool> opened = OpenOrCreate(placement, name);
    if (!opened.ok()) {
      LOG(WARNING) << "replica " << name << " could not be created: " << opened.status();
      return;
    }
    Replica r;
    r.collection = collection;
    r.shard = shard.shard();
    r.created_at_us = placement.created_at_us();
    it = replicas_.emplace(name, std::move(r)).first;
    SetPeers(shard, &it->second);
    StartCatchUp(&it->second, *opened ? "start" : "new",
                 *opened ? "opened from disk" : "new replica");
    return;
  }
  SetPeers(shard, &it->second);
}

void NodeCore::SetPeers(const v1::ShardPlacement& shard, Replica* r) const {
  r->unassigned_since = absl::InfiniteFuture();
  r->peers.clear();
  for (const v1::ReplicaPlacement& other : shard.replicas()) {
    if (other.node() != options_.address) r->peers.push_back(other.node());
  }
}

absl::StatusOr<bool> NodeCore::OpenOrCreate(const v1::CollectionPlacement& placement,
                                            const std::string& name) {
  absl::StatusOr<CollectionInfo> have = collections_->GetCollection(name);
  if (have.ok() && have->config.created_at_us == placement.created_at_us()) return true;
  if (have.ok()) LS_RETURN_IF_ERROR(collections_->DropCollection(name));  // an older namesake
  LS_ASSIGN_OR_RETURN(CreateSpec spec, CreateSpecFromProto(placement.spec()));
  LS_ASSIGN_OR_RETURN(index::CollectionConfig config,
                      ConfigFromSpec(spec, options_.collections.max_dim));
  config.name = name;
  config.created_at_us = placement.created_at_us();
  LS_RETURN_IF_ERROR(collections_->CreateFromConfig(config, false).status());
  return false;
}

void NodeCore::StartCatchUp(Replica* r, const char* reason, const std::string& why) {
  ++r->generation;
  if (r->peers.empty()) {
    // Replication factor 1: this copy is all there is.
    r->state = v1::REPLICA_STATE_SERVING;
    r->catch_up_started = absl::InfinitePast();
    LOG(INFO) << "replica " << ReplicaName(r->collection, r->shard) << " serves (" << why
              << "; no peers)";
    return;
  }
  r->state = v1::REPLICA_STATE_CATCHING_UP;
  if (r->catch_up_started == absl::InfinitePast()) r->catch_up_started = Now();
  r->catch_up_after = Now() + 2 * options_.refresh_interval;
  Emit({ReplicaEvent::Kind::kCatchUpStarted, r->collection, r->shard, reason});
  LOG(INFO) << "replica " << ReplicaName(r->collection, r->shard) << " catches up (" << why
            << ") from " << r->peers.size() << " peers after " << 2 * options_.refresh_interval;
}

void NodeCore::DropUnassigned() {
  const absl::Time now = Now();
  for (auto it = replicas_.begin(); it != replicas_.end();) {
    if (now - it->second.unassigned_since < 2 * options_.refresh_interval) {
      ++it;
      continue;
    }
    if (absl::Status s = collections_->DropCollection(it->first); !s.ok()) {
      LOG(WARNING) << "replica " << it->first << " is no longer placed here but could not be "
                   << "dropped: " << s;
      ++it;
      continue;
    }
    LOG(INFO) << "replica " << it->first << " dropped: no longer placed on this node";
    it = replicas_.erase(it);
  }
}

bool NodeCore::CatchUpPending() const {
  absl::MutexLock l(&mu_);
  const absl::Time now = Now();
  for (const auto& [name, r] : replicas_) {
    if (r.state == v1::REPLICA_STATE_CATCHING_UP && r.catch_up_after <= now) return true;
  }
  return false;
}

int NodeCore::CatchUpDue() {
  struct Due {
    std::string name;
    v1::ShardRef ref;
    std::vector<std::string> peers;
    uint64_t generation;
  };
  std::vector<Due> due;
  {
    absl::MutexLock l(&mu_);
    const absl::Time now = Now();
    for (const auto& [name, r] : replicas_) {
      if (r.state != v1::REPLICA_STATE_CATCHING_UP || r.catch_up_after > now) continue;
      v1::ShardRef ref;
      ref.set_collection(r.collection);
      ref.set_shard(r.shard);
      due.push_back({name, ref, r.peers, r.generation});
    }
  }
  int serving = 0;
  for (const Due& d : due) {
    const bool ok = CopyFromPeers(d.name, d.ref, d.peers);
    absl::MutexLock l(&mu_);
    auto it = replicas_.find(d.name);
    if (it == replicas_.end() || it->second.generation != d.generation ||
        it->second.state != v1::REPLICA_STATE_CATCHING_UP) {
      continue;  // dropped, or told to resync again meanwhile
    }
    if (ok) {
      it->second.state = v1::REPLICA_STATE_SERVING;
      Emit({ReplicaEvent::Kind::kCaughtUp, d.ref.collection(), d.ref.shard(), "",
            Now() - it->second.catch_up_started});
      it->second.catch_up_started = absl::InfinitePast();
      ++serving;
      LOG(INFO) << "replica " << d.name << " caught up and serves";
    } else {
      it->second.catch_up_after = Now() + options_.refresh_interval;
    }
  }
  return serving;
}

bool NodeCore::CopyFromPeers(const std::string& name, const v1::ShardRef& ref,
                             const std::vector<std::string>& peers) {
  size_t merged = 0, merged_serving = 0;
  for (const std::string& peer : peers) {
    bool serving = false;
    if (absl::Status s = MergeFromPeer(name, ref, peer, &serving); !s.ok()) {
      LOG(WARNING) << "replica " << name << ": copying from " << peer << " failed: " << s;
      continue;
    }
    ++merged;
    if (serving) ++merged_serving;
  }
  return merged_serving > 0 || merged == peers.size();
}

absl::Status NodeCore::MergeFromPeer(const std::string& name, const v1::ShardRef& ref,
                                     const std::string& peer, bool* peer_serving) {
  v1::ScanShardRequest request;
  *request.mutable_ref() = ref;
  request.set_page_size(options_.catch_up_page_size);
  request.set_include_tombstones(true);
  request.set_include_vectors(true);
  request.set_allow_catching_up(true);
  bool first = true;
  do {
    LS_ASSIGN_OR_RETURN(v1::ScanShardResponse page, peers_->Scan(peer, request));
    LS_RETURN_IF_ERROR(ApplyPage(name, page));
    if (first) *peer_serving = page.state() == v1::REPLICA_STATE_SERVING;
    first = false;
    request.set_after_id(page.next_after_id());
  } while (!request.after_id().empty());
  return absl::OkStatus();
}

int NodeCore::AntiEntropyDue() {
  struct Due {
    std::string name;
    v1::ShardRef ref;
    std::vector<std::string> peers;
  };
  std::vector<Due> due;
  {
    absl::MutexLock l(&mu_);
    const absl::Time now = Now();
    for (auto& [name, r] : replicas_) {
      if (r.state != v1::REPLICA_STATE_SERVING || r.peers.empty() || r.next_compare > now) {
        continue;
      }
      r.next_compare = now + 5 * options_.refresh_interval;
      v1::ShardRef ref;
      ref.set_collection(r.collection);
      ref.set_shard(r.shard);
      due.push_back({name, ref, r.peers});
    }
  }
  int merges = 0;
  for (const Due& d : due) {
    for (const std::string& peer : DivergedPeers(d.name, d.ref, d.peers)) {
      bool serving = false;
      absl::Status s = MergeFromPeer(d.name, d.ref, peer, &serving);
      LOG(WARNING) << "replica " << d.name << " differed from its peer on " << peer
                   << " while neither took writes; merged the peer's items: " << s;
      if (!s.ok()) continue;
      ++merges;
      Emit({ReplicaEvent::Kind::kAntiEntropyMerge, d.ref.collection(), d.ref.shard()});
    }
  }
  return merges;
}

std::vector<std::string> NodeCore::DivergedPeers(const std::string& name, const v1::ShardRef& ref,
                                                 const std::vector<std::string>& peers) {
  absl::StatusOr<index::ReplicaSummary> mine = collections_->Summary(name);
  if (!mine.ok()) return {};
  std::vector<std::string> out;
  for (const std::string& peer : peers) {
    absl::StatusOr<v1::GetNodeStatusResponse> status = peers_->Status(peer);
    if (!status.ok()) continue;
    const v1::NodeReplica* theirs = nullptr;
    for (const v1::NodeReplica& r : status->replicas()) {
      if (r.ref().collection() == ref.collection() && r.ref().shard() == ref.shard()) theirs = &r;
    }
    if (theirs == nullptr || theirs->state() != v1::REPLICA_STATE_SERVING) continue;
    absl::MutexLock l(&mu_);
    auto it = replicas_.find(name);
    if (it == replicas_.end()) return {};
    auto& differed = it->second.differed;
    if (theirs->digest() == mine->digest) {
      differed.erase(peer);
      continue;
    }
    const auto now = std::make_tuple(mine->max_version, theirs->max_version(), theirs->digest());
    auto before = differed.find(peer);
    if (before != differed.end() && before->second == now) out.push_back(peer);
    differed[peer] = now;
  }
  return out;
}

absl::Status NodeCore::ApplyPage(const std::string& name, const v1::ScanShardResponse& page) {
  if (page.items().empty()) return absl::OkStatus();
  LS_ASSIGN_OR_RETURN(uint32_t dim, collections_->DimOf(name));
  LS_ASSIGN_OR_RETURN(index::VersionedWriteBatch batch, BatchFromProto(page.items(), dim));
  return collections_->ApplyVersioned(name, batch).status();
}

absl::StatusOr<std::string> NodeCore::Find(const v1::ShardRef& ref, bool serving) const {
  const std::string name = ReplicaName(ref.collection(), ref.shard());
  absl::MutexLock l(&mu_);
  auto it = replicas_.find(name);
  if (it == replicas_.end()) {
    return absl::NotFoundError(absl::StrCat("node ", options_.address, " holds no replica of '",
                                            ref.collection(), "' shard ", ref.shard()));
  }
  if (serving && it->second.state != v1::REPLICA_STATE_SERVING) {
    return absl::UnavailableError(absl::StrCat("replica of '", ref.collection(), "' shard ",
                                               ref.shard(), " on node ", options_.address,
                                               " is catching up"));
  }
  return name;
}

v1::GetNodeStatusResponse NodeCore::Status() const {
  v1::GetNodeStatusResponse out;
  out.set_address(options_.address);
  absl::MutexLock l(&mu_);
  for (const auto& [name, r] : replicas_) {
    v1::NodeReplica* nr = out.add_replicas();
    nr->mutable_ref()->set_collection(r.collection);
    nr->mutable_ref()->set_shard(r.shard);
    nr->set_state(r.state);
    absl::StatusOr<index::ReplicaSummary> s = collections_->Summary(name);
    if (!s.ok()) continue;
    nr->set_item_count(s->item_count);
    nr->set_tombstones(s->tombstones);
    nr->set_max_version(s->max_version);
    nr->set_digest(s->digest);
    absl::StatusOr<CollectionInfo> info = collections_->GetCollection(name);
    if (info.ok()) CollectionInfoToProto(*info, nr->mutable_local());
  }
  return out;
}

bool NodeCore::AllServing() const {
  absl::MutexLock l(&mu_);
  for (const auto& [name, r] : replicas_) {
    if (r.state != v1::REPLICA_STATE_SERVING) return false;
  }
  return true;
}

absl::StatusOr<v1::ShardWriteResponse> NodeCore::Write(const v1::ShardWriteRequest& request) {
  LS_ASSIGN_OR_RETURN(std::string name, Find(request.ref(), /*serving=*/false));
  LS_ASSIGN_OR_RETURN(uint32_t dim, collections_->DimOf(name));
  LS_ASSIGN_OR_RETURN(index::VersionedWriteBatch batch, BatchFromProto(request.items(), dim));
  LS_ASSIGN_OR_RETURN(index::ApplyCounts counts, collections_->ApplyVersioned(name, batch));
  v1::ShardWriteResponse out;
  out.set_inserted(counts.inserted);
  out.set_replaced(counts.replaced);
  out.set_deleted(counts.deleted);
  out.set_not_found(counts.not_found);
  out.set_superseded(counts.superseded);
  absl::StatusOr<index::ReplicaSummary> s = collections_->Summary(name);
  if (s.ok()) out.set_item_count(s->item_count);
  return out;
}

absl::StatusOr<v1::SearchBatchResponse> NodeCore::SearchShard(
    const v1::ShardSearchRequest& request) const {
  LS_ASSIGN_OR_RETURN(std::string name, Find(request.ref(), /*serving=*/true));
  v1::SearchBatchRequest batch = request.batch();
  batch.set_collection(name);
  return core_->SearchBatch(batch);
}

absl::StatusOr<v1::GetItemsResponse> NodeCore::GetItems(const v1::GetItemsRequest& request) const {
  LS_ASSIGN_OR_RETURN(std::string name, Find(request.ref(), /*serving=*/true));
  std::vector<std::string> ids(request.ids().begin(), request.ids().end());
  LS_ASSIGN_OR_RETURN(auto items, collections_->GetItems(name, ids, request.include_vectors()));
  v1::GetItemsResponse out;
  for (auto& [meta, vector] : items) {
    v1::Item* item = out.add_items();
    item->set_id(std::move(meta.id));
    item->set_label(meta.label);
    item->set_uri(std::move(meta.uri));
    item->mutable_vector()->Assign(vector.begin(), vector.end());
  }
  return out;
}

absl::StatusOr<v1::ScanShardResponse> NodeCore::ScanShard(
    const v1::ScanShardRequest& request) const {
  if (request.page_size() > kMaxScanPage) {
    return absl::InvalidArgumentError(absl::StrCat("page_size ", request.page_size(),
                                                   " is out of range; allowed 1..", kMaxScanPage,
                                                   " (0 = 1000)"));
  }
  LS_ASSIGN_OR_RETURN(std::string name, Find(request.ref(), !request.allow_catching_up()));
  const size_t limit = request.page_size() == 0 ? 1000 : request.page_size();
  LS_ASSIGN_OR_RETURN(std::vector<index::VersionedEntry> entries,
                      collections_->Scan(name, request.after_id(), limit,
                                         request.include_tombstones(), request.include_vectors()));
  v1::ScanShardResponse out;
  if (entries.size() == limit) out.set_next_after_id(entries.back().meta.id);
  for (index::VersionedEntry& e : entries) EntryToProto(std::move(e), out.add_items());
  absl::StatusOr<index::ReplicaSummary> s = collections_->Summary(name);
  if (s.ok()) out.set_item_count(s->item_count);
  absl::MutexLock l(&mu_);
  auto it = replicas_.find(name);
  out.set_state(it == replicas_.end() ? v1::REPLICA_STATE_MISSING : it->second.state);
  return out;
}

absl::Status NodeCore::Resync(const v1::ResyncRequest& request) {
  const std::string name = ReplicaName(request.ref().collection(), request.ref().shard());
  absl::MutexLock l(&mu_);
  auto it = replicas_.find(name);
  if (it == replicas_.end()) {
    return absl::NotFoundError(absl::StrCat("node ", options_.address, " holds no replica of '",
                                            request.ref().collection(), "' shard ",
                                            request.ref().shard()));
  }
  StartCatchUp(&it->second, "resync", absl::StrCat("resync: ", request.reason()));
  return absl::OkStatus();
}

absl::StatusOr<v1::SnapshotResponse> NodeCore::Snapshot(const v1::SnapshotRequest& request) {
  std::vector<std::pair<std::string, std::string>> names;  // (replica, collection)
  {
    absl::MutexLock l(&mu_);
    for (const auto& [name, r] : replicas_) {
      if (request.collection().empty() || r.collection == request.collection()) {
        names.emplace_back(name, r.collection);
      }
    }
  }
  v1::SnapshotResponse out;
  for (const auto& [name, collection] : names) {
    LS_ASSIGN_OR_RETURN(std::vector<index::SnapshotInfoData> infos, collections_->Snapshot(name));
    for (index::SnapshotInfoData& info : infos) {
      info.collection = collection;
      SnapshotInfoToProto(info, out.add_snapshots());
    }
  }
  return out;
}

}  // namespace latentsearch::search::cluster

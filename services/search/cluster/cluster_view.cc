// A router's picture of the cluster, refreshed from the placement store and
// node polls (cluster_view.h).
// Thread-safety: see cluster_view.h; state_ is swapped under mu_.
#include "services/search/cluster/cluster_view.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/base/logging.h"

namespace latentsearch::search::cluster {
namespace {

bool Reads(v1::ReplicaRole role) {
  return role == v1::REPLICA_ROLE_ACTIVE || role == v1::REPLICA_ROLE_LEAVING;
}

// Whether the placement still puts a replica of the shard on the node.
bool Places(const ViewState& state, const std::string& collection, uint32_t shard,
            const std::string& node) {
  const StoredPlacement* p = state.Find(collection);
  if (p == nullptr || shard >= static_cast<uint32_t>(p->placement.shards_size())) return false;
  for (const v1::ReplicaPlacement& r : p->placement.shards(shard).replicas()) {
    if (r.node() == node) return true;
  }
  return false;
}

}  // namespace

const StoredPlacement* ViewState::Find(const std::string& collection) const {
  auto it = collections.find(collection);
  return it == collections.end() ? nullptr : &it->second;
}

const v1::NodeReplica* ViewState::Replica(const std::string& node, const std::string& collection,
                                          uint32_t shard) const {
  auto n = nodes.find(node);
  if (n == nodes.end() || !n->second.up) return nullptr;
  auto r = n->second.replicas.find({collection, shard});
  return r == n->second.replicas.end() ? nullptr : &r->second;
}

bool ViewState::NodeUp(const std::string& node) const {
  auto n = nodes.find(node);
  return n != nodes.end() && n->second.up;
}

absl::StatusOr<std::unique_ptr<ClusterView>> ClusterView::Create(ClusterViewOptions options) {
  if (options.store == nullptr || !options.dial) {
    return absl::InvalidArgumentError("ClusterView needs a placement store and a node dialer");
  }
  if (options.refresh_interval <= absl::ZeroDuration() ||
      options.poll_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refresh interval ", absl::FormatDuration(options.refresh_interval), " and poll timeout ",
        absl::FormatDuration(options.poll_timeout), " must be positive"));
  }
  return std::unique_ptr<ClusterView>(new ClusterView(std::move(options)));
}

ClusterView::~ClusterView() {
  Stop();
  // Destroy the clients while every member their calls' callbacks touch
  // (suspects_, mu_) still exists: a client's destructor waits for its calls.
  std::map<std::string, std::shared_ptr<NodeClient>> clients;
  {
    absl::MutexLock lock(&mu_);
    clients.swap(clients_);
  }
  clients.clear();
}

void ClusterView::SetAfterRefresh(std::function<void(const ViewState&)> fn) {
  absl::MutexLock lock(&refresh_mu_);
  after_refresh_ = std::move(fn);
}

void ClusterView::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

void ClusterView::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ClusterView::Loop() {
  while (true) {
    Refresh().IgnoreError();  // Logged inside.
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.refresh_interval)) return;
  }
}

std::shared_ptr<const ViewState> ClusterView::Current() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

absl::StatusOr<std::shared_ptr<NodeClient>> ClusterView::Client(const std::string& address) {
  {
    absl::MutexLock lock(&mu_);
    auto it = clients_.find(address);
    if (it != clients_.end()) return it->second;
  }
  absl::StatusOr<std::shared_ptr<NodeClient>> client = options_.dial(address);
  if (!client.ok()) return client.status();
  absl::MutexLock lock(&mu_);
  // Another thread may have dialled meanwhile: keep the first.
  return clients_.emplace(address, *std::move(client)).first->second;
}

std::map<std::string, absl::StatusOr<v1::GetNodeStatusResponse>> ClusterView::Poll(
    const std::vector<std::string>& nodes, absl::Time deadline) {
  deadline = std::min(deadline, absl::Now() + options_.poll_timeout);
  struct Answers {
    absl::Mutex mu;
    size_t pending ABSL_GUARDED_BY(mu) = 0;
    std::map<std::string, absl::StatusOr<v1::GetNodeStatusResponse>> out ABSL_GUARDED_BY(mu);
  };
  auto answers = std::make_shared<Answers>();
  auto request = std::make_shared<const v1::GetNodeStatusRequest>();
  std::vector<std::pair<std::string, std::shared_ptr<NodeClient>>> targets;
  {
    absl::MutexLock lock(&answers->mu);
    for (const std::string& node : std::set<std::string>(nodes.begin(), nodes.end())) {
      absl::StatusOr<std::shared_ptr<NodeClient>> client = Client(node);
      if (!client.ok()) {
        answers->out.emplace(node, client.status());
        continue;
      }
      targets.emplace_back(node, *std::move(client));
      ++answers->pending;
    }
  }
  for (auto& [node, client] : targets) {
    client->GetNodeStatus(request, deadline, nullptr,
                          [answers, node = node](absl::StatusOr<v1::GetNodeStatusResponse> r) {
                            absl::MutexLock lock(&answers->mu);
                            answers->out.emplace(node, std::move(r));
                            --answers->pending;
                          });
  }
  absl::MutexLock lock(&answers->mu);
  answers->mu.Await(absl::Condition(
      +[](size_t* pending) { return *pending == 0; }, &answers->pending));
  return std::move(answers->out);
}

std::vector<std::string> ClusterView::NodesOf(
    const std::vector<v1::NodeRecord>& registered,
    const std::map<std::string, StoredPlacement>& placements) {
  std::set<std::string> nodes;
  for (const v1::NodeRecord& n : registered) nodes.insert(n.address());
  for (const auto& [name, stored] : placements) {
    for (const v1::ShardPlacement& s : stored.placement.shards()) {
      for (const v1::ReplicaPlacement& r : s.replicas()) nodes.insert(r.node());
    }
  }
  return std::vector<std::string>(nodes.begin(), nodes.end());
}

absl::Status ClusterView::Refresh() {
  absl::MutexLock refresh_lock(&refresh_mu_);
  absl::Status store_status;
  absl::StatusOr<std::vector<StoredPlacement>> placements = options_.store->ReadPlacements();
  absl::StatusOr<std::vector<v1::NodeRecord>> nodes =
      placements.ok() ? options_.store->ReadNodes() : placements.status();
  if (placements.ok() && nodes.ok()) {
    placements_.clear();
    for (StoredPlacement& p : *placements) {
      placements_[p.placement.spec().name()] = std::move(p);
    }
    registered_ = *std::move(nodes);
  } else {
    store_status = nodes.status();
    LOG(WARNING) << "cluster view: reading the placement from " << options_.store->Describe()
                 << " failed; keeping the placement read last: " << store_status;
  }
  const absl::Time polled_at = absl::Now();
  std::shared_ptr<ViewState> state =
      BuildState(registered_, placements_, polled_at,
                 Poll(NodesOf(registered_, placements_), absl::InfiniteFuture()));
  {
    absl::MutexLock lock(&mu_);
    state_ = state;
  }
  UpdateSuspects(*state);
  if (after_refresh_) after_refresh_(*state);
  return store_status;
}

std::shared_ptr<ViewState> ClusterView::BuildState(
    const std::vector<v1::NodeRecord>& registered,
    std::map<std::string, StoredPlacement> placements, absl::Time polled_at,
    std::map<std::string, absl::StatusOr<v1::GetNodeStatusResponse>> polls) const {
  auto state = std::make_shared<ViewState>();
  state->collections = std::move(placements);
  state->polled_at = polled_at;
  for (auto& [address, poll] : polls) {
    ViewState::Node& node = state->nodes[address];
    node.up = poll.ok();
    if (!poll.ok()) {
      node.error = poll.status();
      VLOG(1) << "cluster view: node " << address << " is down: " << poll.status();
      continue;
    }
    for (const v1::NodeReplica& r : poll->replicas()) {
      node.replicas[{r.ref().collection(), r.ref().shard()}] = r;
    }
  }
  for (const v1::NodeRecord& n : registered) state->nodes[n.address()].registered = true;
  return state;
}

std::vector<std::string> ClusterView::ReadOrder(const ViewState& state,
                                                const v1::CollectionPlacement& placement,
                                                uint32_t shard) {
  std::vector<std::string> serving, unsure, down;
  if (shard >= static_cast<uint32_t>(placement.shards_size())) return {};
  const std::string& collection = placement.spec().name();
  for (const v1::ReplicaPlacement& r : placement.shards(shard).replicas()) {
    if (!Reads(r.role()) || IsSuspect(collection, shard, r.node())) continue;
    const v1::NodeReplica* seen = state.Replica(r.node(), collection, shard);
    if (seen != nullptr && seen->state() == v1::REPLICA_STATE_SERVING) {
      serving.push_back(r.node());
    } else if (state.NodeUp(r.node())) {
      unsure.push_back(r.node());
    } else {
      down.push_back(r.node());
    }
  }
  if (serving.size() > 1) {
    const size_t turn = rotation_.fetch_add(1, std::memory_order_relaxed) % serving.size();
    std::rotate(serving.begin(), serving.begin() + turn, serving.end());
  }
  serving.insert(serving.end(), unsure.begin(), unsure.end());
  serving.insert(serving.end(), down.begin(), down.end());
  return serving;
}

void ClusterView::ReportFailedWrite(const std::string& collection, uint32_t shard,
                                    const std::string& node, const std::string& reason) {
  SuspectKey key{collection, shard, node};
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    auto [it, added] = suspects_.try_emplace(key);
    Suspect& s = it->second;
    if (!added && s.resync_accepted == absl::InfiniteFuture()) {
      // A Resync is on its way (or is re-sent at every refresh until the
      // node takes it): it covers this write too.
      VLOG(1) << "replica " << collection << "/" << shard << " on node " << node
              << " missed another write: " << reason;
      return;
    }
    if (added) {
      LOG(WARNING) << "replica " << collection << "/" << shard << " on node " << node
                   << " missed a write (" << reason << "); not reading it until it has resynced";
    }
    s.reason = reason;
    s.resync_accepted = absl::InfiniteFuture();
    s.generation = generation = ++next_generation_;
  }
  if (options_.on_resync) options_.on_resync(collection, shard, node);
  SendResync(key, generation, reason);
}

bool ClusterView::IsSuspect(const std::string& collection, uint32_t shard,
                            const std::string& node) const {
  absl::MutexLock lock(&mu_);
  return suspects_.count(SuspectKey{collection, shard, node}) > 0;
}

void ClusterView::SendResync(const SuspectKey& key, uint64_t generation,
                             const std::string& reason) {
  const auto& [collection, shard, node] = key;
  absl::StatusOr<std::shared_ptr<NodeClient>> client = Client(node);
  if (!client.ok()) return;  // Retried at the next refresh.
  auto request = std::make_shared<v1::ResyncRequest>();
  request->mutable_ref()->set_collection(collection);
  request->mutable_ref()->set_shard(shard);
  request->set_reason(reason);
  (*client)->Resync(request, absl::Now() + options_.poll_timeout, nullptr,
                    [this, key, generation](absl::StatusOr<v1::ResyncResponse> r) {
                      if (!r.ok()) {
                        LOG(WARNING) << "Resync of " << std::get<0>(key) << "/" << std::get<1>(key)
                                     << " on " << std::get<2>(key)
                                     << " failed (retried every refresh): " << r.status();
                        return;
                      }
                      absl::MutexLock lock(&mu_);
                      auto it = suspects_.find(key);
                      if (it != suspects_.end() && it->second.generation == generation) {
                        it->second.resync_accepted = absl::Now();
                      }
                    });
}

void ClusterView::UpdateSuspects(const ViewState& state) {
  std::vector<std::tuple<SuspectKey, uint64_t, std::string>> resend;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = suspects_.begin(); it != suspects_.end();) {
      const auto& [collection, shard, node] = it->first;
      const v1::NodeReplica* seen = state.Replica(node, collection, shard);
      const bool caught_up = it->second.resync_accepted < state.polled_at && seen != nullptr &&
                             seen->state() == v1::REPLICA_STATE_SERVING;
      const bool gone = !Places(state, collection, shard, node);
      if (caught_up || gone) {
        if (caught_up) {
          LOG(INFO) << "replica " << collection << "/" << shard << " on node " << node
                    << " resynced; reading it again";
        }
        it = suspects_.erase(it);
        continue;
      }
      if (it->second.resync_accepted == absl::InfiniteFuture()) {
        resend.emplace_back(it->first, it->second.generation, it->second.reason);
      }
      ++it;
    }
  }
  for (const auto& [key, generation, reason] : resend) SendResync(key, generation, reason);
}

}  // namespace latentsearch::search::cluster

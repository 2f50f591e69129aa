// The search cluster under faults (issue #10's chaos acceptance point), as
// real processes on loopback: etcd, 3 nodes, 2 routers; a collection of 2
// shards x 3 replicas with QUORUM writes; 32 searching clients and 4
// writers through both routers (one ipv4: target, round-robin). Faults, one
// at a time, each waiting until every replica serves again: a node
// SIGKILLed and restarted (twice, different nodes), a router SIGKILLed and
// restarted, a node SIGKILLed with its data dir wiped.
//
// What must hold:
//   - searches: 0 failed;
//   - writes: acknowledged, or refused with a status (kept as "outcome
//     unknown": the write may be present or absent);
//   - freshness: a search for an item whose insert was acknowledged more than
//     1.5 refresh intervals earlier finds it (no replica serves reads while
//     behind);
//   - afterwards every replica of every shard holds exactly the acknowledged
//     final state: per id the last acknowledged write, or a later write whose
//     outcome was unknown (ids, vectors, deletes), and the replicas agree.
//
// Size: LS_CHAOS_ROUNDS (default 1: the five faults once; about a minute).
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc/channel.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/cluster.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/integration/cluster/local_cluster.h"

namespace latentsearch {
namespace {

using ::latentsearch::testing::LocalCluster;

constexpr int kDim = 8;
constexpr int kShards = 2;
constexpr int kSearchers = 32;
constexpr int kWriters = 4;
constexpr absl::Duration kRefresh = absl::Milliseconds(300);

std::vector<float> RandomVector(std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(kDim);
  for (float& x : v) x = u(*rng);
  return v;
}

// One write of one id as the client saw it.
struct Op {
  bool deleted = false;
  std::vector<float> vector;
  bool acked = false;  // false: the outcome is unknown
};

// Everything the writers did, per id, in the order each writer issued it
// (every id belongs to one writer).
class Model {
 public:
  void Record(const std::string& id, Op op) {
    std::lock_guard<std::mutex> l(mu_);
    ops_[id].push_back(std::move(op));
  }
  // An id inserted once and acknowledged, and when.
  void Stable(const std::string& id, std::vector<float> v) {
    std::lock_guard<std::mutex> l(mu_);
    stable_.push_back({id, std::move(v), absl::Now()});
  }
  // A stable item acknowledged at least `age` ago (false if none yet).
  bool PickStable(std::mt19937* rng, absl::Duration age, std::string* id, std::vector<float>* v) {
    std::lock_guard<std::mutex> l(mu_);
    const absl::Time cutoff = absl::Now() - age;
    size_t n = 0;
    while (n < stable_.size() && stable_[n].at <= cutoff) ++n;
    if (n == 0) return false;
    const auto& s = stable_[(*rng)() % n];
    *id = s.id;
    *v = s.vector;
    return true;
  }
  // The states an id may end in: nullopt = absent.
  std::vector<std::optional<std::vector<float>>> Candidates(const std::string& id) const {
    std::lock_guard<std::mutex> l(mu_);
    const std::vector<Op>& ops = ops_.at(id);
    int last = -1;
    for (int i = 0; i < static_cast<int>(ops.size()); ++i) {
      if (ops[i].acked) last = i;
    }
    std::vector<std::optional<std::vector<float>>> out;
    auto state = [](const Op& op) {
      return op.deleted ? std::nullopt : std::optional<std::vector<float>>(op.vector);
    };
    out.push_back(last < 0 ? std::nullopt : state(ops[last]));
    for (int i = last + 1; i < static_cast<int>(ops.size()); ++i) out.push_back(state(ops[i]));
    return out;
  }
  bool Written(const std::string& id) const {
    std::lock_guard<std::mutex> l(mu_);
    return ops_.count(id) > 0;
  }
  std::vector<std::string> Ids() const {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> ids;
    for (const auto& [id, ops] : ops_) ids.push_back(id);
    return ids;
  }

 private:
  struct StableItem {
    std::string id;
    std::vector<float> vector;
    absl::Time at;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Op>> ops_;
  std::vector<StableItem> stable_;  // in acknowledgement order
};

void SetDeadline(grpc::ClientContext* ctx, int seconds = 10) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

class ClusterChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::EtcdProcess::Available()) GTEST_SKIP() << testing::EtcdProcess::kNotInstalled;
    testing::LocalClusterOptions options;
    options.refresh_interval = kRefresh;
    auto cluster = LocalCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto stub = v1::Search::NewStub(rpc::CreateChannel(cluster_->RouterTarget()));
    v1::CreateCollectionRequest create;
    create.set_name("chaos");
    create.set_dim(kDim);
    create.set_shards(kShards);
    create.set_replication_factor(3);
    create.add_metrics(v1::METRIC_L2);
    create.add_index_kinds(v1::INDEX_KIND_EXACT);
    grpc::ClientContext ctx;
    SetDeadline(&ctx, 60);
    v1::CollectionInfo info;
    grpc::Status s = stub->CreateCollection(&ctx, create, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(info.write_consistency(), v1::CONSISTENCY_LEVEL_QUORUM);
  }

  void Writer(int w) {
    auto stub = v1::Search::NewStub(rpc::CreateChannel(cluster_->RouterTarget()));
    std::mt19937 rng(1000 + w);
    std::vector<std::string> pool;  // this writer's mutable ids
    for (int i = 0; i < 16; ++i) pool.push_back(absl::StrCat("w", w, "-m", i));
    for (int round = 0; !stop_writers_.load(); ++round) {
      if (round % 4 == 3) {
        v1::DeleteRequest req;
        req.set_collection("chaos");
        const std::string id = pool[rng() % pool.size()];
        req.add_ids(id);
        grpc::ClientContext ctx;
        SetDeadline(&ctx);
        v1::DeleteResponse resp;
        const bool ok = stub->Delete(&ctx, req, &resp).ok();
        model_.Record(id, Op{true, {}, ok});
        (ok ? writes_acked_ : writes_unknown_)++;
        continue;
      }
      v1::UpsertRequest req;
      req.set_collection("chaos");
      std::vector<std::pair<std::string, std::vector<float>>> items;
      for (int i = 0; i < 3; ++i) {
        items.emplace_back(absl::StrCat("w", w, "-s", round, "-", i), RandomVector(&rng));
      }
      items.emplace_back(pool[rng() % pool.size()], RandomVector(&rng));
      for (const auto& [id, v] : items) {
        v1::Item* item = req.add_items();
        item->set_id(id);
        item->mutable_vector()->Assign(v.begin(), v.end());
      }
      grpc::ClientContext ctx;
      SetDeadline(&ctx);
      v1::UpsertResponse resp;
      auto stream = stub->Upsert(&ctx, &resp);
      bool ok = stream->Write(req);
      stream->WritesDone();
      grpc::Status s = stream->Finish();
      ok = ok && s.ok();
      if (!ok) last_write_error_ = s.error_message();
      for (size_t i = 0; i < items.size(); ++i) {
        model_.Record(items[i].first, Op{false, items[i].second, ok});
        if (ok && i < 3) model_.Stable(items[i].first, items[i].second);
      }
      (ok ? writes_acked_ : writes_unknown_)++;
    }
  }

  void Searcher(int s) {
    auto stub = v1::Search::NewStub(rpc::CreateChannel(cluster_->RouterTarget()));
    std::mt19937 rng(2000 + s);
    while (!stop_searchers_.load()) {
      v1::SearchRequest req;
      req.set_collection("chaos");
      std::string want;
      std::vector<float> v;
      const bool fresh = rng() % 2 == 0 && model_.PickStable(&rng, kRefresh * 3 / 2, &want, &v);
      if (!fresh) v = RandomVector(&rng);
      req.set_k(fresh ? 1 : 5);
      req.mutable_vector()->mutable_values()->Assign(v.begin(), v.end());
      grpc::ClientContext ctx;
      SetDeadline(&ctx);
      v1::SearchResponse resp;
      grpc::Status st = stub->Search(&ctx, req, &resp);
      searches_++;
      if (!st.ok()) {
        searches_failed_++;
        std::lock_guard<std::mutex> l(errors_mu_);
        search_errors_.push_back(absl::StrCat(st.error_code(), ": ", st.error_message()));
        continue;
      }
      if (fresh && (resp.neighbors_size() != 1 || resp.neighbors(0).id() != want)) {
        stale_reads_++;
        std::lock_guard<std::mutex> l(errors_mu_);
        search_errors_.push_back(absl::StrCat(
            "stale: wanted ", want, " got ", resp.neighbors_size() ? resp.neighbors(0).id() : "-"));
      }
    }
  }

  // Every replica of every shard, read straight from its node.
  std::map<std::string, std::map<uint32_t, std::map<std::string, v1::VersionedItem>>> Replicas() {
    std::map<std::string, std::map<uint32_t, std::map<std::string, v1::VersionedItem>>> out;
    for (int n = 0; n < cluster_->num_nodes(); ++n) {
      auto stub = v1::SearchNode::NewStub(rpc::CreateChannel(cluster_->node(n)));
      for (uint32_t shard = 0; shard < kShards; ++shard) {
        v1::ScanShardRequest req;
        req.mutable_ref()->set_collection("chaos");
        req.mutable_ref()->set_shard(shard);
        req.set_include_tombstones(true);
        req.set_include_vectors(true);
        req.set_page_size(5000);
        do {
          grpc::ClientContext ctx;
          SetDeadline(&ctx);
          v1::ScanShardResponse resp;
          grpc::Status s = stub->ScanShard(&ctx, req, &resp);
          EXPECT_TRUE(s.ok()) << cluster_->node(n) << ": " << s.error_message();
          if (!s.ok()) break;
          for (const v1::VersionedItem& it : resp.items()) {
            out[cluster_->node(n)][shard][it.item().id()] = it;
          }
          req.set_after_id(resp.next_after_id());
        } while (!req.after_id().empty());
      }
    }
    return out;
  }

  // Until the replicas of each shard report one digest (anti-entropy has
  // merged what a dead router left half-written), or `timeout`.
  bool WaitConverged(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      std::map<uint32_t, std::set<uint64_t>> digests;
      bool all = true;
      for (int n = 0; n < cluster_->num_nodes(); ++n) {
        auto stub = v1::SearchNode::NewStub(rpc::CreateChannel(cluster_->node(n)));
        grpc::ClientContext ctx;
        SetDeadline(&ctx);
        v1::GetNodeStatusResponse resp;
        all = all && stub->GetNodeStatus(&ctx, v1::GetNodeStatusRequest(), &resp).ok();
        for (const v1::NodeReplica& r : resp.replicas()) {
          digests[r.ref().shard()].insert(r.digest());
          all = all && r.state() == v1::REPLICA_STATE_SERVING;
        }
      }
      for (const auto& [shard, d] : digests) all = all && d.size() == 1;
      if (all && digests.size() == kShards) return true;
      absl::SleepFor(absl::Milliseconds(100));  // polling a condition
    }
    return false;
  }

  std::unique_ptr<LocalCluster> cluster_;
  Model model_;
  std::atomic<bool> stop_writers_{false}, stop_searchers_{false};
  std::atomic<int> writes_acked_{0}, writes_unknown_{0};
  std::atomic<int> searches_{0}, searches_failed_{0}, stale_reads_{0};
  std::string last_write_error_;
  std::mutex errors_mu_;
  std::vector<std::string> search_errors_;
};

TEST_F(ClusterChaosTest, FaultsLoseNoAcknowledgedWriteAndFailNoSearch) {
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) threads.emplace_back([this, w] { Writer(w); });
  std::vector<std::thread> searchers;
  for (int s = 0; s < kSearchers; ++s) searchers.emplace_back([this, s] { Searcher(s); });

  const char* env = std::getenv("LS_CHAOS_ROUNDS");
  const int rounds = env == nullptr ? 1 : std::atoi(env);
  auto settle = [&] {
    absl::SleepFor(absl::Seconds(1));  // load runs against the faulted cluster
  };
  for (int round = 0; round < rounds; ++round) {
    cluster_->KillNode(0);
    settle();
    ASSERT_TRUE(cluster_->StartNode(0).ok());
    ASSERT_TRUE(cluster_->WaitAllServing().ok());
    cluster_->KillNode(1);
    settle();
    ASSERT_TRUE(cluster_->StartNode(1).ok());
    ASSERT_TRUE(cluster_->WaitAllServing().ok());
    cluster_->KillRouter(0);
    settle();
    ASSERT_TRUE(cluster_->StartRouter(0).ok());
    cluster_->KillNode(2);
    cluster_->WipeNode(2);
    settle();
    ASSERT_TRUE(cluster_->StartNode(2).ok());
    ASSERT_TRUE(cluster_->WaitAllServing().ok());
    cluster_->KillNode(0);
    settle();
    ASSERT_TRUE(cluster_->StartNode(0).ok());
    ASSERT_TRUE(cluster_->WaitAllServing().ok());
  }
  stop_writers_ = true;
  for (std::thread& t : threads) t.join();
  settle();
  stop_searchers_ = true;
  for (std::thread& t : searchers) t.join();

  std::printf("writes: %d acknowledged, %d outcome unknown (last error: %s)\n",
              writes_acked_.load(), writes_unknown_.load(), last_write_error_.c_str());
  std::printf("searches: %d, failed %d, stale %d\n", searches_.load(), searches_failed_.load(),
              stale_reads_.load());
  for (size_t i = 0; i < search_errors_.size() && i < 10; ++i) {
    std::printf("  %s\n", search_errors_[i].c_str());
  }
  EXPECT_EQ(searches_failed_.load(), 0);
  EXPECT_EQ(stale_reads_.load(), 0);
  EXPECT_GT(writes_acked_.load(), 50);

  ASSERT_TRUE(WaitConverged(absl::Seconds(60))) << "replicas did not converge";
  auto replicas = Replicas();
  ASSERT_EQ(replicas.size(), 3u);
  int checked = 0;
  for (const std::string& id : model_.Ids()) {
    const auto candidates = model_.Candidates(id);
    std::optional<std::optional<std::vector<float>>> first;
    for (auto& [node, shards] : replicas) {
      std::optional<std::vector<float>> have;
      for (auto& [shard, items] : shards) {
        auto it = items.find(id);
        if (it != items.end() && !it->second.deleted()) {
          have = std::vector<float>(it->second.item().vector().begin(),
                                    it->second.item().vector().end());
        }
      }
      bool allowed = false;
      for (const auto& c : candidates) allowed = allowed || c == have;
      EXPECT_TRUE(allowed) << id << " on " << node << " is "
                           << (have ? "present with an unacknowledged vector" : "absent");
      if (first.has_value()) {
        EXPECT_EQ(*first, have) << id << ": replicas disagree";
      }
      first = have;
    }
    ++checked;
  }
  std::printf("checked %d ids on every replica\n", checked);
  for (auto& [node, shards] : replicas) {
    for (auto& [shard, items] : shards) {
      for (auto& [id, item] : items) {
        EXPECT_TRUE(model_.Written(id)) << id << " on " << node << " was never written";
      }
    }
  }
}

}  // namespace
}  // namespace latentsearch

// Adding a node under search load (issue #10's rebalance acceptance point):
// real processes on loopback — etcd, 3 nodes, 2 routers — holding a
// collection of 3 shards x 2 replicas. A fourth node joins; `Cluster.Rebalance`
// moves replicas onto it while 16 clients search through both routers. The
// moves finish (every replica ACTIVE and serving), the new node holds its
// share (replicas per node differ by at most one), every search succeeded,
// and every item is still found.
#include <atomic>
#include <map>
#include <memory>
#include <random>
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
constexpr int kItems = 3000;

void SetDeadline(grpc::ClientContext* ctx, int seconds = 30) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

std::vector<float> VectorOf(int i) {
  std::mt19937 rng(i);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(kDim);
  for (float& x : v) x = u(rng);
  return v;
}

// True when every replica is ACTIVE and serving and the replicas per node
// differ by at most one.
bool Balanced(const v1::ClusterStatusResponse& status, std::map<std::string, int>* per_node) {
  per_node->clear();
  for (const v1::NodeStatus& n : status.nodes()) (*per_node)[n.address()] = 0;
  for (const auto& c : status.collections()) {
    for (const auto& s : c.shard_status()) {
      for (const auto& r : s.replicas()) {
        if (r.role() != v1::REPLICA_ROLE_ACTIVE || r.state() != v1::REPLICA_STATE_SERVING) {
          return false;
        }
        ++(*per_node)[r.node()];
      }
    }
  }
  int lo = 1 << 30, hi = 0;
  for (const auto& [node, n] : *per_node) {
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  return hi - lo <= 1;
}

TEST(ClusterRebalanceTest, AddedNodeTakesItsShareWithoutFailingASearch) {
  if (!testing::EtcdProcess::Available()) GTEST_SKIP() << testing::EtcdProcess::kNotInstalled;
  testing::LocalClusterOptions options;
  options.refresh_interval = absl::Milliseconds(300);
  auto started = LocalCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<LocalCluster> cluster = std::move(*started);
  auto search = v1::Search::NewStub(rpc::CreateChannel(cluster->RouterTarget()));
  {
    v1::CreateCollectionRequest create;
    create.set_name("grow");
    create.set_dim(kDim);
    create.set_shards(3);
    create.set_replication_factor(2);
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CollectionInfo info;
    grpc::Status s = search->CreateCollection(&ctx, create, &info);
    ASSERT_TRUE(s.ok()) << s.error_message();
    grpc::ClientContext uctx;
    v1::UpsertResponse resp;
    auto writer = search->Upsert(&uctx, &resp);
    v1::UpsertRequest req;
    req.set_collection("grow");
    for (int i = 0; i < kItems; ++i) {
      v1::Item* item = req.add_items();
      item->set_id(absl::StrCat("i", i));
      const std::vector<float> v = VectorOf(i);
      item->mutable_vector()->Assign(v.begin(), v.end());
    }
    ASSERT_TRUE(writer->Write(req));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }

  std::atomic<bool> stop{false};
  std::atomic<int> searches{0}, failed{0}, missed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::Search::NewStub(rpc::CreateChannel(cluster->RouterTarget()));
      std::mt19937 rng(c);
      while (!stop.load()) {
        const int i = static_cast<int>(rng() % kItems);
        v1::SearchRequest req;
        req.set_collection("grow");
        req.set_k(1);
        const std::vector<float> v = VectorOf(i);
        req.mutable_vector()->mutable_values()->Assign(v.begin(), v.end());
        grpc::ClientContext ctx;
        SetDeadline(&ctx);
        v1::SearchResponse resp;
        ++searches;
        if (!stub->Search(&ctx, req, &resp).ok()) {
          ++failed;
        } else if (resp.neighbors_size() != 1 || resp.neighbors(0).id() != absl::StrCat("i", i)) {
          ++missed;
        }
      }
    });
  }

  absl::StatusOr<int> added = cluster->AddNode();
  ASSERT_TRUE(added.ok()) << added.status();
  auto admin = v1::Cluster::NewStub(rpc::CreateChannel(cluster->router(0)));
  // The new node registers in etcd; the router sees it at its next refresh.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  int moves = 0;
  while (moves == 0 && absl::Now() < deadline) {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::RebalanceResponse resp;
    grpc::Status s = admin->Rebalance(&ctx, v1::RebalanceRequest(), &resp);
    ASSERT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::FAILED_PRECONDITION)
        << s.error_message();
    moves += resp.moves_size();
    if (moves == 0) absl::SleepFor(absl::Milliseconds(100));  // polling for the new node
  }
  ASSERT_GT(moves, 0) << "no move planned onto the new node";
  std::map<std::string, int> per_node;
  bool balanced = false;
  while (!balanced && absl::Now() < deadline) {
    absl::StatusOr<v1::ClusterStatusResponse> status = cluster->Status();
    if (status.ok() && Balanced(*status, &per_node)) {
      balanced = true;
      break;
    }
    // A plan moves one replica per shard at a time: plan again when the
    // first moves are done.
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::RebalanceResponse resp;
    (void)admin->Rebalance(&ctx, v1::RebalanceRequest(), &resp);
    moves += resp.moves_size();
    absl::SleepFor(absl::Milliseconds(100));  // polling a condition
  }
  // Searches go on a while after the moves (old copies are dropped after a
  // grace of two refresh intervals).
  absl::SleepFor(absl::Seconds(1));
  stop = true;
  for (std::thread& t : clients) t.join();
  std::printf("moves %d; replicas per node:", moves);
  for (const auto& [node, n] : per_node) std::printf(" %s=%d", node.c_str(), n);
  std::printf("; searches %d, failed %d, missed %d\n", searches.load(), failed.load(),
              missed.load());
  EXPECT_TRUE(balanced);
  EXPECT_GE(per_node[cluster->node(*added)], 1);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(missed.load(), 0);
  EXPECT_GT(searches.load(), 100);
}

}  // namespace
}  // namespace latentsearch

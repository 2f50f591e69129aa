// Catch-up section (catchup_section.h).
// Thread-safety: one thread runs it.
#include "tests/bench/cluster/catchup_section.h"

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "latentsearch/v1/cluster.grpc.pb.h"
#include "tests/bench/cluster/bench_data.h"
#include "tests/bench/cluster/markdown.h"
#include "tests/bench/cluster/search_ops.h"
#include "tests/integration/cluster/local_cluster.h"

namespace latentsearch::bench {
namespace {

constexpr char kName[] = "catchup";

// The L2 HNSW index statistics of `node`'s replica of the collection.
absl::StatusOr<v1::IndexStats> NodeGraph(v1::SearchNode::Stub* node) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(10));
  v1::GetNodeStatusResponse resp;
  LS_RETURN_IF_ERROR(
      rpc::FromGrpcStatus(node->GetNodeStatus(&ctx, v1::GetNodeStatusRequest(), &resp)));
  for (const v1::NodeReplica& r : resp.replicas()) {
    if (r.ref().collection() != kName) continue;
    for (const v1::IndexStats& i : r.local().indexes()) {
      if (i.kind() == v1::INDEX_KIND_HNSW && i.metric() == v1::METRIC_L2) return i;
    }
  }
  return absl::NotFoundError(absl::StrCat("no L2 graph of '", kName, "' on the node"));
}

// Per node address: its replica's state and items in Cluster.Status.
absl::StatusOr<std::vector<v1::ReplicaStatus>> Replicas(const testing::LocalCluster& cluster) {
  LS_ASSIGN_OR_RETURN(v1::ClusterStatusResponse status, cluster.Status());
  std::vector<v1::ReplicaStatus> out;
  for (const v1::CollectionClusterStatus& c : status.collections()) {
    if (c.name() != kName) continue;
    for (const v1::ShardStatus& s : c.shard_status()) {
      out.insert(out.end(), s.replicas().begin(), s.replicas().end());
    }
  }
  return out;
}

bool Serving(const std::vector<v1::ReplicaStatus>& replicas, const std::string& node, uint64_t n) {
  for (const v1::ReplicaStatus& r : replicas) {
    if ((node.empty() || r.node() == node) &&
        (r.state() != v1::REPLICA_STATE_SERVING || r.item_count() != n)) {
      return false;
    }
  }
  return !replicas.empty();
}

// Until both replicas serve all items and no graph has been building for
// four polls in a row (about a second).
absl::Status WaitQuiet(const testing::LocalCluster& cluster,
                       const std::vector<std::unique_ptr<v1::SearchNode::Stub>>& nodes, uint64_t n,
                       absl::Duration timeout) {
  int quiet = 0;
  return PollUntil(
             "catch-up collection: both replicas serving, no graph building",
             [&](std::string* state) -> absl::StatusOr<bool> {
               absl::StatusOr<std::vector<v1::ReplicaStatus>> replicas = Replicas(cluster);
               bool ok = replicas.ok() && Serving(*replicas, "", n);
               *state = ok ? "serving" : "not all serving";
               for (const auto& node : nodes) {
                 absl::StatusOr<v1::IndexStats> g = NodeGraph(node.get());
                 ok = ok && g.ok() && g->state() != v1::INDEX_STATE_BUILDING;
                 if (g.ok()) absl::StrAppend(state, "; graph over ", g->items());
               }
               quiet = ok ? quiet + 1 : 0;
               return quiet >= 4;
             },
             timeout, absl::Milliseconds(250))
      .status();
}

struct Timings {
  double listening = 0, serving = 0, graph = 0;
  uint64_t graph_items = 0;
  std::string graph_state;
};

// Kills node 1, wipes it, restarts it and times its catch-up.
absl::StatusOr<Timings> TimeCatchUp(testing::LocalCluster* cluster, v1::SearchNode::Stub* node,
                                    uint64_t n, absl::Duration timeout) {
  Timings t;
  cluster->KillNode(1);
  cluster->WipeNode(1);
  const auto start = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  LS_RETURN_IF_ERROR(cluster->StartNode(1));
  t.listening = since();
  LS_RETURN_IF_ERROR(PollUntil(
                         "wiped replica serving",
                         [&](std::string* state) -> absl::StatusOr<bool> {
                           absl::StatusOr<std::vector<v1::ReplicaStatus>> r = Replicas(*cluster);
                           *state = r.ok() ? "not serving yet" : r.status().ToString();
                           return r.ok() && Serving(*r, cluster->node(1), n);
                         },
                         timeout, absl::Milliseconds(50))
                         .status());
  t.serving = since();
  int quiet = 0;
  LS_RETURN_IF_ERROR(PollUntil(
                         "wiped replica's graph",
                         [&](std::string* state) -> absl::StatusOr<bool> {
                           absl::StatusOr<v1::IndexStats> g = NodeGraph(node);
                           if (!g.ok()) return false;
                           t.graph_items = g->items();
                           t.graph_state = v1::IndexState_Name(g->state());
                           *state = absl::StrCat(t.graph_state, " over ", t.graph_items);
                           if (g->state() == v1::INDEX_STATE_READY && g->items() == n) return true;
                           quiet = g->state() != v1::INDEX_STATE_BUILDING ? quiet + 1 : 0;
                           return quiet >= 4;  // stale: the rest is searched exactly
                         },
                         timeout, absl::Milliseconds(250))
                         .status());
  t.graph = since();
  return t;
}

}  // namespace

absl::StatusOr<std::string> RunCatchUpSection(const Options& o) {
  testing::LocalClusterOptions co;
  co.nodes = 2;
  co.routers = 1;
  co.refresh_interval = o.refresh_interval;
  co.threads = 1;
  LS_ASSIGN_OR_RETURN(std::unique_ptr<testing::LocalCluster> cluster,
                      testing::LocalCluster::Start(co));
  auto router = v1::Search::NewStub(rpc::CreateChannel(cluster->router(0)));
  std::vector<std::unique_ptr<v1::SearchNode::Stub>> nodes;
  for (int i = 0; i < 2; ++i) {
    nodes.push_back(v1::SearchNode::NewStub(rpc::CreateChannel(cluster->node(i))));
  }
  const Dataset data(o.catchup_n, o.dim, o.clusters, o.seed);
  LS_RETURN_IF_ERROR(CreateL2Collection(router.get(), kName, o.dim, 1, 2));
  LS_ASSIGN_OR_RETURN(double upload, Upload(router.get(), kName, data));
  LOG(INFO) << "catch-up: uploaded " << data.n() << " items in " << upload << " s";
  LS_RETURN_IF_ERROR(WaitQuiet(*cluster, nodes, data.n(), o.ready_timeout));
  LOG(INFO) << "catch-up: killing and wiping node 1";
  LS_ASSIGN_OR_RETURN(Timings t,
                      TimeCatchUp(cluster.get(), nodes[1].get(), data.n(), o.ready_timeout));
  const double wait = 2 * absl::ToDoubleSeconds(o.refresh_interval);
  Table table({"items", "refresh interval", "restart → listening s", "restart → serving s",
               "items/s (÷ restart → serving)", "≈ copy items/s (÷ serving − 2 intervals)",
               "restart → L2 graph s", "graph covers"});
  table.AddRow(
      {Num(static_cast<double>(data.n()), 0), absl::FormatDuration(o.refresh_interval),
       Num(t.listening, 2), Num(t.serving, 2), Num(static_cast<double>(data.n()) / t.serving, 0),
       t.serving > wait ? Num(static_cast<double>(data.n()) / (t.serving - wait), 0) : "n/a",
       Num(t.graph, 1),
       absl::StrCat(Num(static_cast<double>(t.graph_items), 0), " (",
                    t.graph_state == "INDEX_STATE_READY" ? "ready" : "stale", ")")});
  return absl::StrCat(
      "## Catch-up of a wiped replica\n\n",
      absl::StrFormat(
          "%s x %d-d clustered vectors, 1 shard x 2 replicas on two nodes (--threads=1) and "
          "one router, L2 graph. Node 1 is SIGKILLed, its data dir removed, and it is started "
          "again empty; \"serving\" is the first Cluster.Status (polled every 50 ms through "
          "the router) showing its replica SERVING with every item. That includes a fixed wait "
          "of two refresh intervals before the copy starts (docs/cluster.md). The replica "
          "answers HNSW queries exactly until its graph is built.\n\n",
          Num(static_cast<double>(data.n()), 0), o.dim),
      table.ToString(), "\n");
}

}  // namespace latentsearch::bench

// Scale-out section (scaleout_section.h).
// Thread-safety: one thread runs it; RunLoad calls the lambdas from its own
// threads (gRPC stubs are thread-safe).
#include "tests/bench/cluster/scaleout_section.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cli/load_gen.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "common/testing/etcd_process.h"
#include "tests/bench/cluster/bench_data.h"
#include "tests/bench/cluster/markdown.h"
#include "tests/bench/cluster/search_ops.h"
#include "tests/bench/cluster/standalone_server.h"
#include "tests/integration/cluster/local_cluster.h"

namespace latentsearch::bench {
namespace {

using ::latentsearch::cli::LoadStats;
using ::latentsearch::cli::RunLoad;

constexpr char kName[] = "scaleout";

struct Config {
  std::string label;   // "one process", "2 shards"
  std::string layout;  // processes x --threads
  int shards = 1;
  std::unique_ptr<StandaloneServer> standalone;
  std::unique_ptr<testing::LocalCluster> cluster;
  std::unique_ptr<v1::Search::Stub> stub;
  Prepared prep;
  std::string placement;
  LoadStats exact, hnsw;
  RecallResult recall;
};

absl::Status PrepareOneProcess(const Options& o, const Dataset& data, Config* c) {
  c->label = "one process";
  c->layout = absl::StrCat("1 × ", o.one_node_threads, " threads (standalone)");
  LS_ASSIGN_OR_RETURN(c->standalone, StandaloneServer::Start(o.one_node_threads));
  c->stub = v1::Search::NewStub(rpc::CreateChannel(c->standalone->address()));
  auto restart = [c]() { return c->standalone->Restart(); };
  LS_ASSIGN_OR_RETURN(
      c->prep, PrepareCollection(c->stub.get(), kName, data, 1, 1, restart, o.ready_timeout));
  c->placement = "whole collection";
  return absl::OkStatus();
}

// "node:replicas" per node from Cluster.Status.
absl::StatusOr<std::string> Placement(const testing::LocalCluster& cluster) {
  LS_ASSIGN_OR_RETURN(v1::ClusterStatusResponse status, cluster.Status());
  std::string out;
  for (const v1::NodeStatus& n : status.nodes()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", n.replicas());
  }
  return absl::StrCat("shards per node: ", out);
}

absl::Status PrepareShards(const Options& o, const Dataset& data, int shards, Config* c) {
  c->label = absl::StrCat(shards, " shards");
  c->layout = absl::StrCat(shards, " × 1 thread (+ router)");
  if (static_cast<unsigned>(shards) > std::thread::hardware_concurrency()) {
    // More node threads than cores (router and client need CPU too).
    absl::StrAppend(&c->layout, ", **oversubscribed**");
  }
  c->shards = shards;
  testing::LocalClusterOptions co;
  co.nodes = shards;
  co.routers = 1;
  co.refresh_interval = o.refresh_interval;
  co.threads = 1;
  LS_ASSIGN_OR_RETURN(c->cluster, testing::LocalCluster::Start(co));
  c->stub = v1::Search::NewStub(rpc::CreateChannel(c->cluster->router(0)));
  auto restart = [c, shards]() -> absl::Status {
    for (int i = 0; i < shards; ++i) c->cluster->KillNode(i);
    for (int i = 0; i < shards; ++i) LS_RETURN_IF_ERROR(c->cluster->StartNode(i));
    return absl::OkStatus();
  };
  LS_ASSIGN_OR_RETURN(
      c->prep, PrepareCollection(c->stub.get(), kName, data, shards, 1, restart, o.ready_timeout));
  LS_ASSIGN_OR_RETURN(c->placement, Placement(*c->cluster));
  return absl::OkStatus();
}

LoadStats Load(v1::Search::Stub* stub, const std::vector<v1::SearchRequest>& queries,
               const Options& o) {
  return RunLoad(
      [&](int t, uint64_t i) {
        grpc::ClientContext ctx;
        SetDeadline(&ctx, absl::Seconds(120));
        v1::SearchResponse resp;
        return rpc::FromGrpcStatus(
            stub->Search(&ctx, queries[(i * 7919 + t * 131) % queries.size()], &resp));
      },
      o.qps_concurrency, absl::Seconds(o.duration_seconds));
}

// Every configuration's QPS, exact then HNSW, back to back; then recall.
absl::Status Measure(const Options& o, const Dataset& data, std::vector<Config>* configs) {
  const std::vector<float> vectors = data.Queries(std::max<uint32_t>(1000, o.recall_queries));
  const auto exact = MakeQueries(kName, vectors, o.dim, 1000, v1::INDEX_KIND_EXACT, o.k, o.ef);
  const auto hnsw = MakeQueries(kName, vectors, o.dim, 1000, v1::INDEX_KIND_HNSW, o.k, o.ef);
  for (Config& c : *configs) c.exact = Load(c.stub.get(), exact, o);
  for (Config& c : *configs) c.hnsw = Load(c.stub.get(), hnsw, o);
  for (const Config& c : *configs) {
    LOG(INFO) << "scale-out " << c.label << ": exact " << c.exact.qps << " QPS, HNSW " << c.hnsw.qps
              << " QPS";
    if (c.exact.errors + c.hnsw.errors > 0) {
      return absl::InternalError(absl::StrCat(
          c.label,
          ": searches failed: ", (c.exact.errors > 0 ? c.exact : c.hnsw).first_error.ToString()));
    }
  }
  const auto rexact =
      MakeQueries(kName, vectors, o.dim, o.recall_queries, v1::INDEX_KIND_EXACT, o.k, o.ef);
  const auto rhnsw =
      MakeQueries(kName, vectors, o.dim, o.recall_queries, v1::INDEX_KIND_HNSW, o.k, o.ef);
  for (Config& c : *configs) {
    LS_ASSIGN_OR_RETURN(c.recall, MeasureRecall(c.stub.get(), rexact, rhnsw));
  }
  return absl::OkStatus();
}

std::string Tables(const Options& o, const std::vector<Config>& configs) {
  const Config& one = configs[0];
  Table qps({"configuration", "processes × --threads", "exact QPS", "÷ one process", "exact p50 ms",
             "HNSW QPS", "÷ one process", "HNSW p50 ms", "HNSW p99 ms",
             absl::StrCat("recall@", o.k), "exact ids = one process"});
  Table prep({"configuration", "placement", "upload s", "items/s", "restart → graphs ready s",
              "graph build s"});
  std::string goal;
  for (const Config& c : configs) {
    const double re = c.exact.qps / one.exact.qps, rh = c.hnsw.qps / one.hnsw.qps;
    qps.AddRow({c.label, c.layout, Num(c.exact.qps, 1), Num(re, 2), Num(c.exact.p50_us / 1000, 2),
                Num(c.hnsw.qps, 0), Num(rh, 2), Num(c.hnsw.p50_us / 1000, 2),
                Num(c.hnsw.p99_us / 1000, 2), Num(c.recall.recall, 4),
                Num(SameIdsFraction(c.recall, one.recall), 4)});
    prep.AddRow({c.label, c.placement, Num(c.prep.upload_seconds, 1),
                 Num(static_cast<double>(o.n) / c.prep.upload_seconds, 0),
                 Num(c.prep.ready_seconds, 1), Num(c.prep.build_seconds, 1)});
    if (c.shards == 2) {
      goal = absl::StrFormat(
          "Goal (2 shards ≥ 0.9 × one process): exact %.2f× — %s; HNSW %.2f× — %s.\n", re,
          re >= 0.9 ? "met" : "**not met**", rh, rh >= 0.9 ? "met" : "**not met**");
    }
  }
  return absl::StrCat(qps.ToString(), "\n", goal, "\n", prep.ToString());
}

}  // namespace

absl::StatusOr<std::string> RunScaleOutSection(const Options& o) {
  if (!testing::EtcdProcess::Available()) {
    return absl::FailedPreconditionError(testing::EtcdProcess::kNotInstalled);
  }
  const Dataset data(o.n, o.dim, o.clusters, o.seed);
  std::vector<Config> configs(1 + o.shard_counts.size());
  LS_RETURN_IF_ERROR(PrepareOneProcess(o, data, &configs[0]));
  for (size_t i = 0; i < o.shard_counts.size(); ++i) {
    LS_RETURN_IF_ERROR(PrepareShards(o, data, o.shard_counts[i], &configs[i + 1]));
  }
  LS_RETURN_IF_ERROR(Measure(o, data, &configs));
  return absl::StrCat(
      "## Scale-out: one process against shards\n\n",
      absl::StrFormat(
          "%s x %d-d clustered vectors (%d clusters), L2 only, k = %d, HNSW ef = %d (M 16, "
          "ef_construction 200). Replication factor 1. QPS: closed loop, %d client threads, %.0f "
          "s per row, all rows back to back after every configuration was built; recall@%d: "
          "HNSW against exact through the same configuration on the same %d queries. This "
          "machine has %d hardware threads for the nodes, the router and the client: rows marked "
          "oversubscribed have more single-threaded nodes than hardware threads.\n\n",
          Num(static_cast<double>(o.n), 0), o.dim, o.clusters, o.k, o.ef, o.qps_concurrency,
          o.duration_seconds, o.k, o.recall_queries, std::thread::hardware_concurrency()),
      Tables(o, configs), "\n");
}

}  // namespace latentsearch::bench

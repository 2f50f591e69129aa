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
  // Equal recall (sharded configurations): the smallest per-shard ef on the
  // ladder whose recall is at least the one process's at --ef, and the
  // HNSW load at that ef.
  uint32_t equal_ef = 0;
  double equal_recall = 0;
  LoadStats equal_hnsw;
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
// `vectors`: the query rows (at least max(1000, --recall_queries)).
absl::Status Measure(const Options& o, const std::vector<float>& vectors,
                     std::vector<Config>* configs) {
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

// The ef ladder below --ef: 3/4, 1/2, 3/8, 1/4, ... of it, never below k.
std::vector<uint32_t> EfLadder(const Options& o) {
  std::vector<uint32_t> out;
  for (uint32_t num : {6u, 4u, 3u, 2u, 1u}) {
    const uint32_t ef = std::max<uint32_t>(o.k, o.ef * num / 8);
    if (out.empty() || ef < out.back()) out.push_back(ef);
  }
  return out;
}

// Each sharded configuration at equal recall: walks the ladder down while
// the recall stays at least the one process's at --ef, then measures the
// HNSW load at the last ef that kept it (--ef itself when none below did).
absl::Status MeasureEqualRecall(const Options& o, const std::vector<float>& vectors,
                                std::vector<Config>* configs) {
  const double target = (*configs)[0].recall.recall;
  const auto rexact =
      MakeQueries(kName, vectors, o.dim, o.recall_queries, v1::INDEX_KIND_EXACT, o.k, o.ef);
  for (size_t i = 1; i < configs->size(); ++i) {
    Config& c = (*configs)[i];
    c.equal_ef = o.ef;
    c.equal_recall = c.recall.recall;
    for (uint32_t ef : EfLadder(o)) {
      if (Interrupted()) return absl::CancelledError("interrupted");
      const auto rhnsw =
          MakeQueries(kName, vectors, o.dim, o.recall_queries, v1::INDEX_KIND_HNSW, o.k, ef);
      LS_ASSIGN_OR_RETURN(RecallResult r, MeasureRecall(c.stub.get(), rexact, rhnsw));
      LOG(INFO) << "scale-out " << c.label << ": ef " << ef << " recall " << r.recall << " (target "
                << target << ")";
      if (r.recall < target) break;
      c.equal_ef = ef;
      c.equal_recall = r.recall;
    }
  }
  for (size_t i = 1; i < configs->size(); ++i) {
    Config& c = (*configs)[i];
    c.equal_hnsw =
        Load(c.stub.get(),
             MakeQueries(kName, vectors, o.dim, 1000, v1::INDEX_KIND_HNSW, o.k, c.equal_ef), o);
    if (c.equal_hnsw.errors > 0) {
      return absl::InternalError(
          absl::StrCat(c.label, ": searches failed: ", c.equal_hnsw.first_error.ToString()));
    }
  }
  return absl::OkStatus();
}

// The second reading of the goal: each configuration at the recall the one
// process reaches at --ef.
std::string EqualRecallTable(const Options& o, const std::vector<Config>& configs) {
  const Config& one = configs[0];
  Table t({"configuration", "HNSW ef per shard", absl::StrCat("recall@", o.k), "HNSW QPS",
           "÷ one process", "HNSW p50 ms"});
  t.AddRow({one.label, absl::StrCat(o.ef), Num(one.recall.recall, 4), Num(one.hnsw.qps, 0), "1.00",
            Num(one.hnsw.p50_us / 1000, 2)});
  std::string goal;
  for (size_t i = 1; i < configs.size(); ++i) {
    const Config& c = configs[i];
    const double r = c.equal_hnsw.qps / one.hnsw.qps;
    t.AddRow({c.label, absl::StrCat(c.equal_ef), Num(c.equal_recall, 4), Num(c.equal_hnsw.qps, 0),
              Num(r, 2), Num(c.equal_hnsw.p50_us / 1000, 2)});
    if (c.shards == 2) {
      goal = absl::StrFormat("At equal recall, 2 shards: HNSW %.2f× one process — %s.\n", r,
                             r >= 0.9 ? "met" : "**not met**");
    }
  }
  return absl::StrCat(t.ToString(), "\n", goal);
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
  const std::vector<float> vectors = data.Queries(std::max<uint32_t>(1000, o.recall_queries));
  LS_RETURN_IF_ERROR(Measure(o, vectors, &configs));
  LS_RETURN_IF_ERROR(MeasureEqualRecall(o, vectors, &configs));
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
      Tables(o, configs),
      "\n### At equal recall\n\nA sharded query searches every shard's graph, and a graph "
      "walk costs about log n, so at equal ef two half-size graphs cost nearly twice one "
      "full one while answering with higher recall. Here each sharded configuration gets the "
      "smallest ef per shard (on the ladder 3/4, 1/2, 3/8, 1/4 of --ef, never below k) whose "
      "recall@k, measured as above, is at least the one process's at --ef; its HNSW QPS is "
      "measured at that ef, after the rows above.\n\n",
      EqualRecallTable(o, configs), "\n");
}

}  // namespace latentsearch::bench

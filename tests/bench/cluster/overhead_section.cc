// Router overhead section (overhead_section.h).
// Thread-safety: one thread runs it; RunLoad calls the lambdas from its own
// threads (gRPC stubs are thread-safe).
#include "tests/bench/cluster/overhead_section.h"

#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cli/load_gen.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "latentsearch/v1/cluster.grpc.pb.h"
#include "tests/bench/cluster/bench_data.h"
#include "tests/bench/cluster/markdown.h"
#include "tests/bench/cluster/search_ops.h"
#include "tests/bench/cluster/standalone_server.h"
#include "tests/integration/cluster/local_cluster.h"

namespace latentsearch::bench {
namespace {

using ::grpc::health::v1::Health;
using ::latentsearch::cli::LoadStats;
using ::latentsearch::cli::RunLoad;

constexpr char kName[] = "overhead";

struct Stubs {
  std::unique_ptr<v1::Search::Stub> router, standalone;
  // `proxied`: the node through passthrough_proxy (the floor of any hop).
  std::unique_ptr<v1::SearchNode::Stub> node, proxied;
  std::unique_ptr<Health::Stub> node_health;
};

struct Row {
  std::string index;
  int concurrency = 0;
  LoadStats noop, direct, proxied, routed, standalone;
};

LoadStats Noop(Health::Stub* health, int concurrency, absl::Duration duration) {
  return RunLoad(
      [health](int, uint64_t) {
        grpc::ClientContext ctx;
        SetDeadline(&ctx, absl::Seconds(30));
        grpc::health::v1::HealthCheckRequest req;
        grpc::health::v1::HealthCheckResponse resp;
        return rpc::FromGrpcStatus(health->Check(&ctx, req, &resp));
      },
      concurrency, duration);
}

// What the router sends the node for one Search (router_search.cc
// NodeBatch): a batch of the one query, collection named by the batch.
std::vector<v1::ShardSearchRequest> DirectRequests(const std::vector<v1::SearchRequest>& queries) {
  std::vector<v1::ShardSearchRequest> out(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    out[i].mutable_ref()->set_collection(kName);
    out[i].mutable_ref()->set_shard(0);
    out[i].mutable_batch()->set_collection(kName);
    v1::SearchRequest* q = out[i].mutable_batch()->add_queries();
    *q = queries[i];
    q->clear_collection();
  }
  return out;
}

// The rows of one index kind: per concurrency, the no-op on the node, the
// direct SearchShard and the routed Search, back to back.
std::vector<Row> Measure(const Stubs& stubs, const std::vector<v1::SearchRequest>& queries,
                         const std::string& index, const Options& o) {
  const std::vector<v1::ShardSearchRequest> direct_requests = DirectRequests(queries);
  const absl::Duration duration = absl::Seconds(o.duration_seconds);
  auto pick = [n = queries.size()](int t, uint64_t i) { return (i * 7919 + t * 131) % n; };
  auto direct = [&](v1::SearchNode::Stub* stub) {
    return [&, stub](int t, uint64_t i) {
      grpc::ClientContext ctx;
      SetDeadline(&ctx, absl::Seconds(60));
      v1::SearchBatchResponse resp;
      return rpc::FromGrpcStatus(stub->SearchShard(&ctx, direct_requests[pick(t, i)], &resp));
    };
  };
  auto search = [&](v1::Search::Stub* stub) {
    return [&, stub](int t, uint64_t i) {
      grpc::ClientContext ctx;
      SetDeadline(&ctx, absl::Seconds(60));
      v1::SearchResponse resp;
      return rpc::FromGrpcStatus(stub->Search(&ctx, queries[pick(t, i)], &resp));
    };
  };
  std::vector<Row> rows;
  for (int c : o.overhead_concurrency) {
    if (Interrupted()) break;
    Row row;
    row.index = index;
    row.concurrency = c;
    row.noop = Noop(stubs.node_health.get(), c, duration);
    row.direct = RunLoad(direct(stubs.node.get()), c, duration);
    row.proxied = RunLoad(direct(stubs.proxied.get()), c, duration);
    row.routed = RunLoad(search(stubs.router.get()), c, duration);
    row.standalone = RunLoad(search(stubs.standalone.get()), c, duration);
    LOG(INFO) << "overhead " << index << " c=" << c << ": no-op p50 " << row.noop.p50_us
              << " us, direct p50 " << row.direct.p50_us << " us, pass-through p50 "
              << row.proxied.p50_us << " us, router p50 " << row.routed.p50_us
              << " us, standalone p50 " << row.standalone.p50_us << " us";
    rows.push_back(row);
  }
  return rows;
}

// The p50 table with the goal, then tails and throughput.
std::string RowsTables(const std::vector<Row>& rows) {
  Table p50({"index", "conc", "no-op p50 µs", "direct p50 µs", "router p50 µs",
             "router − direct µs", "÷ no-op p50", "goal ≤ 1 no-op", "pass-through p50 µs",
             "pass-through − direct ÷ no-op", "router − pass-through µs", "standalone p50 µs",
             "router − standalone µs"});
  Table more({"index", "conc", "direct p99 µs", "router p99 µs", "standalone p99 µs", "direct QPS",
              "router QPS", "standalone QPS", "errors"});
  for (const Row& r : rows) {
    const double added = r.routed.p50_us - r.direct.p50_us;
    p50.AddRow(
        {r.index, absl::StrCat(r.concurrency), Num(r.noop.p50_us, 1), Num(r.direct.p50_us, 1),
         Num(r.routed.p50_us, 1), Num(added, 1),
         r.noop.p50_us > 0 ? Num(added / r.noop.p50_us, 2) : "n/a",
         added <= r.noop.p50_us ? "met" : "**not met**", Num(r.proxied.p50_us, 1),
         r.noop.p50_us > 0 ? Num((r.proxied.p50_us - r.direct.p50_us) / r.noop.p50_us, 2) : "n/a",
         Num(r.standalone.p50_us, 1), Num(r.routed.p50_us - r.standalone.p50_us, 1)});
    more.AddRow({r.index, absl::StrCat(r.concurrency), Num(r.direct.p99_us, 1),
                 Num(r.routed.p99_us, 1), Num(r.standalone.p99_us, 1), Num(r.direct.qps, 0),
                 Num(r.routed.qps, 0), Num(r.standalone.qps, 0),
                 absl::StrCat(r.noop.errors + r.direct.errors + r.proxied.errors + r.routed.errors +
                              r.standalone.errors)});
  }
  return absl::StrCat(p50.ToString(), "\n", more.ToString());
}

}  // namespace

absl::StatusOr<std::string> RunOverheadSection(const Options& o) {
  testing::LocalClusterOptions co;
  co.nodes = 1;
  co.routers = 1;
  co.refresh_interval = o.refresh_interval;
  co.threads = o.overhead_threads;
  LS_ASSIGN_OR_RETURN(std::unique_ptr<testing::LocalCluster> cluster,
                      testing::LocalCluster::Start(co));
  Stubs stubs;
  stubs.router = v1::Search::NewStub(rpc::CreateChannel(cluster->router(0)));
  auto node_channel = rpc::CreateChannel(cluster->node(0));
  stubs.node = v1::SearchNode::NewStub(node_channel);
  stubs.node_health = Health::NewStub(node_channel);
  const Dataset data(o.overhead_n, o.dim, o.clusters, o.seed);
  auto restart = [&]() -> absl::Status {
    cluster->KillNode(0);
    return cluster->StartNode(0);
  };
  LS_ASSIGN_OR_RETURN(Prepared prep, PrepareCollection(stubs.router.get(), kName, data, 1, 1,
                                                       restart, o.ready_timeout));
  LS_ASSIGN_OR_RETURN(std::unique_ptr<StandaloneServer> standalone,
                      StandaloneServer::Start(o.overhead_threads));
  stubs.standalone = v1::Search::NewStub(rpc::CreateChannel(standalone->address()));
  LS_RETURN_IF_ERROR(PrepareCollection(
                         stubs.standalone.get(), kName, data, 1, 1,
                         [&] { return standalone->Restart(); }, o.ready_timeout)
                         .status());
  // The floor: the same SearchShard through the smallest proxy there is
  // (passthrough_proxy, built beside this benchmark).
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  testing::TempDir proxy_dir;
  LS_ASSIGN_OR_RETURN(
      std::unique_ptr<testing::Subprocess> proxy,
      testing::Subprocess::StartServer({(self.parent_path() / "passthrough_proxy").string(),
                                        "--listen=127.0.0.1:0", "--upstream=" + cluster->node(0)},
                                       proxy_dir.Join("proxy.log")));
  stubs.proxied = v1::SearchNode::NewStub(rpc::CreateChannel(proxy->address()));
  const std::vector<float> vectors = data.Queries(1000);
  std::vector<Row> rows;
  for (const std::string& index : o.overhead_index) {
    const v1::IndexKind kind = index == "hnsw" ? v1::INDEX_KIND_HNSW : v1::INDEX_KIND_EXACT;
    std::vector<Row> r =
        Measure(stubs, MakeQueries(kName, vectors, o.dim, 1000, kind, o.k, o.ef), index, o);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  if (Interrupted()) return absl::CancelledError("interrupted");
  return absl::StrCat(
      "## Router overhead\n\n",
      absl::StrFormat(
          "%s x %d-d clustered vectors (%d clusters), one collection of 1 shard x 1 "
          "replica on one node (--threads=%d) behind one router; L2, k = %d, HNSW "
          "ef = %d. Uploaded in %.1f s; graph ready %.1f s after the restart (its build: %.1f s). "
          "Each row: %.0f s per measurement, closed loop; \"direct\" is "
          "SearchNode.SearchShard on the node (the request the router forwards), "
          "\"router\" is Search through the router, the no-op is the node's health "
          "Check; \"pass-through\" is the direct SearchShard through passthrough_proxy, a "
          "gRPC generic proxy that forwards bytes and does nothing else: what any "
          "out-of-process hop costs here, the floor under the router; \"standalone\" is "
          "Search on a standalone server (same --threads, same items), for comparison. Rows "
          "in the order measured: no-op, direct, pass-through, router, standalone at each "
          "concurrency.\n\n",
          Num(static_cast<double>(o.overhead_n), 0), o.dim, o.clusters, o.overhead_threads, o.k,
          o.ef, prep.upload_seconds, prep.ready_seconds, prep.build_seconds, o.duration_seconds),
      RowsTables(rows), "\n");
}

}  // namespace latentsearch::bench

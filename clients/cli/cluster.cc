#include "clients/cli/cluster.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/pipeline_flags.h"
#include "common/base/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "latentsearch/v1/cluster.grpc.pb.h"

ABSL_FLAG(bool, dry_run, false, "cluster rebalance: print the moves without starting them");

namespace latentsearch::cli {
namespace {

std::string StateLabel(v1::ReplicaState s) {
  switch (s) {
    case v1::REPLICA_STATE_SERVING:
      return "serving";
    case v1::REPLICA_STATE_CATCHING_UP:
      return "catching up";
    case v1::REPLICA_STATE_DOWN:
      return "down";
    case v1::REPLICA_STATE_MISSING:
      return "missing";
    default:
      return "?";
  }
}

std::string RoleLabel(v1::ReplicaRole r) {
  switch (r) {
    case v1::REPLICA_ROLE_ACTIVE:
      return "active";
    case v1::REPLICA_ROLE_JOINING:
      return "joining";
    case v1::REPLICA_ROLE_LEAVING:
      return "leaving";
    default:
      return "?";
  }
}

std::string LevelLabel(v1::ConsistencyLevel level) {
  switch (level) {
    case v1::CONSISTENCY_LEVEL_ONE:
      return "one";
    case v1::CONSISTENCY_LEVEL_ALL:
      return "all";
    default:
      return "quorum";
  }
}

void PrintJson(const google::protobuf::Message& m, std::ostream& out) {
  std::string s;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &s, o);
  out << s << "\n";
}

absl::Status RunStatus(const Endpoint& router, v1::Cluster::Stub* stub, std::ostream& out) {
  grpc::ClientContext c;
  SetDeadline(router, &c);
  v1::ClusterStatusResponse resp;
  LS_RETURN_IF_ERROR(RpcError(router, stub->Status(&c, v1::ClusterStatusRequest(), &resp)));
  if (JsonFromFlags()) {
    PrintJson(resp, out);
  } else {
    PrintClusterStatus(resp, out);
  }
  return absl::OkStatus();
}

absl::Status RunRebalance(const Endpoint& router, v1::Cluster::Stub* stub, std::ostream& out) {
  grpc::ClientContext c;
  SetDeadline(router, &c);
  v1::RebalanceRequest req;
  req.set_collection(absl::GetFlag(FLAGS_collection));
  req.set_dry_run(absl::GetFlag(FLAGS_dry_run));
  v1::RebalanceResponse resp;
  LS_RETURN_IF_ERROR(RpcError(router, stub->Rebalance(&c, req, &resp)));
  if (JsonFromFlags()) {
    PrintJson(resp, out);
    return absl::OkStatus();
  }
  if (resp.moves().empty()) out << "balanced: no moves\n";
  for (const v1::ReplicaMove& m : resp.moves()) {
    out << absl::StrFormat("%s %s shard %d: %s -> %s\n", req.dry_run() ? "would move" : "moving",
                           m.collection(), m.shard(), m.from_node(), m.to_node());
  }
  return absl::OkStatus();
}

absl::Status RunCluster(const CommandContext& ctx) {
  if (ctx.positional.size() != 1 ||
      (ctx.positional[0] != "status" && ctx.positional[0] != "rebalance")) {
    return absl::InvalidArgumentError(
        "cluster takes one of: status, rebalance (e.g. latentsearch cluster status)");
  }
  LS_ASSIGN_OR_RETURN(Endpoint router, DialFromFlags(Service::kSearch));
  auto stub = v1::Cluster::NewStub(router.channel);
  if (ctx.positional[0] == "status") return RunStatus(router, stub.get(), *ctx.out);
  return RunRebalance(router, stub.get(), *ctx.out);
}

int Cluster(const CommandContext& ctx) { return ReportError(RunCluster(ctx), *ctx.err); }

}  // namespace

void PrintClusterStatus(const v1::ClusterStatusResponse& status, std::ostream& out) {
  out << absl::StrFormat("router %s, refresh interval %d ms\n", status.router(),
                         status.refresh_interval_ms());
  out << absl::StrFormat("%-24s  %-5s  %8s\n", "node", "up", "replicas");
  for (const v1::NodeStatus& n : status.nodes()) {
    out << absl::StrFormat("%-24s  %-5s  %8d\n", n.address(), n.up() ? "yes" : "NO", n.replicas());
  }
  for (const v1::CollectionClusterStatus& c : status.collections()) {
    out << absl::StrFormat("\ncollection %s: %d shards x %d replicas, writes %s\n", c.name(),
                           c.shards(), c.replication_factor(), LevelLabel(c.write_consistency()));
    out << absl::StrFormat("%5s  %-24s  %-7s  %-11s  %10s  %10s  %8s\n", "shard", "node", "role",
                           "state", "items", "tombstones", "lag");
    for (const v1::ShardStatus& s : c.shard_status()) {
      for (const v1::ReplicaStatus& r : s.replicas()) {
        out << absl::StrFormat("%5d  %-24s  %-7s  %-11s  %10d  %10d  %8d\n", s.shard(), r.node(),
                               RoleLabel(r.role()), StateLabel(r.state()), r.item_count(),
                               r.tombstones(), r.lag_items());
      }
    }
  }
}

Command ClusterCommand() {
  Command c;
  c.name = "cluster";
  c.summary =
      "A search cluster's state (status: nodes, shards, replicas, lag) or rebalance replicas "
      "onto added nodes; --search_address names a router.";
  c.usage = "status|rebalance [--collection=NAME] [--dry_run] [--json]";
  c.flags = ClientFlagNames({Service::kSearch});
  c.flags.push_back("collection");
  c.flags.push_back("dry_run");
  c.run = &Cluster;
  return c;
}

}  // namespace latentsearch::cli

#include "tests/integration/cluster/local_cluster.h"

#include <signal.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/status_macros.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::testing {

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const LocalClusterOptions& options) {
  if (!EtcdProcess::Available()) return absl::FailedPreconditionError(EtcdProcess::kNotInstalled);
  auto c = std::unique_ptr<LocalCluster>(new LocalCluster(options));
  LS_ASSIGN_OR_RETURN(c->etcd_, EtcdProcess::Start());
  c->nodes_.resize(options.nodes);
  c->routers_.resize(options.routers);
  for (int i = 0; i < options.nodes; ++i) {
    c->nodes_[i].data_dir = c->dir_.Join(absl::StrCat("node-", i));
    c->nodes_[i].address = absl::StrCat("127.0.0.1:", PickUnusedLoopbackPort());
    LS_RETURN_IF_ERROR(c->StartNode(i));
  }
  for (int i = 0; i < options.routers; ++i) {
    c->routers_[i].address = absl::StrCat("127.0.0.1:", PickUnusedLoopbackPort());
    LS_RETURN_IF_ERROR(c->StartRouter(i));
  }
  return c;
}

LocalCluster::~LocalCluster() {
  for (Process& p : routers_) p.proc.reset();
  for (Process& p : nodes_) p.proc.reset();
}

std::string LocalCluster::RouterTarget() const {
  std::vector<std::string> addresses;
  for (const Process& p : routers_) addresses.push_back(p.address);
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

absl::Status LocalCluster::Launch(Process* p, const std::string& role, const std::string& name) {
  std::vector<std::string> argv = {
      BinaryPath("latentsearch-search"),
      "--role=" + role,
      "--listen=" + p->address,
      "--etcd=" + etcd_->endpoint(),
      "--refresh_interval=" + absl::FormatDuration(options_.refresh_interval),
      absl::StrCat("--threads=", options_.threads),
      "--drain_seconds=0"};
  if (options_.metrics) argv.push_back("--metrics_listen=127.0.0.1:0");
  if (role == "node") {
    argv.push_back("--advertise=" + p->address);
    argv.push_back("--data_dir=" + p->data_dir);
  } else {
    argv.push_back("--data_dir=" + dir_.Join(name));
  }
  p->log = dir_.Join(absl::StrCat(name, ".", p->starts++, ".log"));
  LS_ASSIGN_OR_RETURN(p->proc, Subprocess::StartServer(argv, p->log));
  return absl::OkStatus();
}

void LocalCluster::KillNode(int i) {
  if (nodes_[i].proc) nodes_[i].proc->Stop(SIGKILL);
  nodes_[i].proc.reset();
}

absl::Status LocalCluster::StartNode(int i) {
  return Launch(&nodes_[i], "node", absl::StrCat("node-", i));
}

void LocalCluster::WipeNode(int i) {
  std::error_code ec;
  std::filesystem::remove_all(nodes_[i].data_dir, ec);
}

absl::StatusOr<int> LocalCluster::AddNode() {
  const int i = static_cast<int>(nodes_.size());
  nodes_.emplace_back();
  nodes_[i].data_dir = dir_.Join(absl::StrCat("node-", i));
  nodes_[i].address = absl::StrCat("127.0.0.1:", PickUnusedLoopbackPort());
  LS_RETURN_IF_ERROR(StartNode(i));
  return i;
}

void LocalCluster::KillRouter(int i) {
  if (routers_[i].proc) routers_[i].proc->Stop(SIGKILL);
  routers_[i].proc.reset();
}

absl::Status LocalCluster::StartRouter(int i) {
  return Launch(&routers_[i], "router", absl::StrCat("router-", i));
}

absl::StatusOr<v1::ClusterStatusResponse> LocalCluster::Status(int router) const {
  auto stub = v1::Cluster::NewStub(rpc::CreateChannel(routers_[router].address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ClusterStatusResponse response;
  grpc::Status s = stub->Status(&ctx, v1::ClusterStatusRequest(), &response);
  if (!s.ok()) return rpc::FromGrpcStatus(s);
  return response;
}

absl::Status LocalCluster::WaitAllServing(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < deadline) {
    // Every running router must see it (each reads nodes on its own).
    bool all = true;
    for (int i = 0; i < static_cast<int>(routers_.size()) && all; ++i) {
      if (routers_[i].proc == nullptr) continue;
      absl::StatusOr<v1::ClusterStatusResponse> status = Status(i);
      all = status.ok();
      if (!status.ok()) {
        last = status.status().ToString();
        continue;
      }
      for (const v1::NodeStatus& n : status->nodes()) all = all && n.up();
      for (const auto& c : status->collections()) {
        for (const auto& s : c.shard_status()) {
          for (const auto& r : s.replicas()) {
            all = all && r.state() == v1::REPLICA_STATE_SERVING;
          }
        }
      }
      last = status->ShortDebugString();
    }
    if (all) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));  // polling a condition, bounded above
  }
  return absl::DeadlineExceededError(absl::StrCat("cluster not all serving: ", last));
}

}  // namespace latentsearch::testing

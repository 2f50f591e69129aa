// A search cluster of real processes on loopback for integration tests
// (docs/cluster.md): a throwaway etcd, N latentsearch-search nodes and R
// routers on fixed loopback ports (so a restarted process keeps its
// address), each logging into the cluster's directory. Faults: SIGKILL a
// node or router, restart it, wipe a node's data dir, add a node.
//
// Waiting is condition polling (Cluster.Status through a router), bounded by
// a timeout; nothing sleeps a fixed time to synchronise.
//
// Thread-safety: one thread drives the cluster; the addresses may be read
// from any thread (they never change).
#ifndef LATENTSEARCH_TESTS_INTEGRATION_CLUSTER_LOCAL_CLUSTER_H_
#define LATENTSEARCH_TESTS_INTEGRATION_CLUSTER_LOCAL_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/testing/etcd_process.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "latentsearch/v1/cluster.grpc.pb.h"

namespace latentsearch::testing {

struct LocalClusterOptions {
  int nodes = 3;
  int routers = 2;
  // Short, so catch-ups (two intervals) are quick in tests.
  absl::Duration refresh_interval = absl::Milliseconds(200);
  // --threads of every process.
  int threads = 1;
  // Every process serves /metrics on a free loopback port
  // (--metrics_listen=127.0.0.1:0); its log names the address ("metrics
  // listening on ADDR").
  bool metrics = false;
};

class LocalCluster {
 public:
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(const LocalClusterOptions& options);
  ~LocalCluster();

  // Every router, as one gRPC target (ipv4:A:P,B:Q): clients balance over
  // them round-robin.
  std::string RouterTarget() const;
  const std::string& router(int i) const { return routers_[i].address; }
  const std::string& node(int i) const { return nodes_[i].address; }
  // The log of the process's latest start.
  const std::string& node_log(int i) const { return nodes_[i].log; }
  const std::string& router_log(int i) const { return routers_[i].log; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const std::string& etcd() const { return etcd_->endpoint(); }
  std::string dir() const { return dir_.path(); }

  void KillNode(int i);
  absl::Status StartNode(int i);  // on its old port and data dir
  void WipeNode(int i);           // removes its data dir (kill it first)
  absl::StatusOr<int> AddNode();  // a new, empty node
  void KillRouter(int i);
  absl::Status StartRouter(int i);

  // Cluster.Status through router `router`.
  absl::StatusOr<v1::ClusterStatusResponse> Status(int router = 0) const;
  // Until every running router sees every node up and every placed replica
  // serving, or `timeout`.
  absl::Status WaitAllServing(absl::Duration timeout = absl::Seconds(60)) const;

 private:
  struct Process {
    std::string address;
    std::string data_dir;
    std::string log;
    std::unique_ptr<Subprocess> proc;
    int starts = 0;
  };
  explicit LocalCluster(LocalClusterOptions options) : options_(options) {}
  absl::Status Launch(Process* p, const std::string& role, const std::string& name);

  const LocalClusterOptions options_;
  TempDir dir_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::vector<Process> nodes_;
  std::vector<Process> routers_;
};

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_TESTS_INTEGRATION_CLUSTER_LOCAL_CLUSTER_H_

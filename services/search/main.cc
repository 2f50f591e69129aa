// latentsearch-search: flags -> the core of the --role -> serve through
// the shared bootstrap (services/common/service_main.h) until SIGTERM/SIGINT,
// then drain. Roles (docs/cluster.md):
//   standalone (default): SearchCore over --data_dir, with a gRPC encoder
//     client for --encoder;
//   node: a cluster node, NodeCore over --data_dir, placement from --etcd;
//   router: the Search API over the cluster's nodes.
#include <memory>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/cluster/placement_store.h"
#include "common/rpc/security.h"
#include "services/common/service_main.h"
#include "services/search/cluster/node_agent.h"
#include "services/search/cluster/node_client_peers.h"
#include "services/search/cluster/node_core.h"
#include "services/search/cluster/node_metrics.h"
#include "services/search/cluster/node_service.h"
#include "services/search/cluster/router_cluster_service.h"
#include "services/search/cluster/router_core.h"
#include "services/search/cluster/router_grpc_node_client.h"
#include "services/search/cluster/router_metrics.h"
#include "services/search/cluster/router_search_service.h"
#include "services/search/grpc_encoder_client.h"
#include "services/search/search_core.h"
#include "services/search/search_metrics.h"
#include "services/search/search_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50053",
          "HOST:PORT or unix:PATH to serve on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, data_dir, "latentsearch-data/search",
          "Directory holding the collections (created if missing)");
ABSL_FLAG(std::string, encoder, "",
          "Encoder service address for search by image; empty = image queries "
          "answer UNAVAILABLE");
ABSL_FLAG(std::string, role, "standalone",
          "standalone (one process holds whole collections), node (holds shard replicas of a "
          "cluster) or router (answers the Search API over a cluster's nodes); docs/cluster.md");
ABSL_FLAG(std::string, etcd, "",
          "Cluster roles: comma-separated etcd client URLs (http://HOST:PORT) keeping the "
          "cluster's placement");
ABSL_FLAG(std::string, advertise, "",
          "Node role: the address routers and peers dial to reach this node (HOST:PORT; on "
          "Kubernetes the pod's stable DNS name); empty = --listen when it has a fixed port");
ABSL_FLAG(absl::Duration, refresh_interval, absl::Seconds(1),
          "Cluster roles: how often placement and node states are re-read; also the bound on "
          "how long a replica may lag an acknowledged write while serving reads");
ABSL_FLAG(bool, peer_tls, false,
          "Cluster roles: dial search nodes with TLS (system roots unless --peer_tls_ca)");
ABSL_FLAG(std::string, peer_tls_ca, "", "PEM CA the nodes' certificates must chain to");
ABSL_FLAG(std::string, peer_tls_cert, "", "PEM client certificate towards the nodes (mTLS)");
ABSL_FLAG(std::string, peer_tls_key, "", "PEM private key of --peer_tls_cert");
ABSL_FLAG(std::string, peer_tls_server_name, "",
          "Name the nodes' certificates must carry, if not the host of their address");
ABSL_FLAG(std::string, peer_token_file, "",
          "File whose first token is sent to the nodes as 'authorization: Bearer TOKEN'");
ABSL_FLAG(uint32_t, max_k, 1000, "Largest k a search may ask for");
ABSL_FLAG(uint32_t, max_batch_queries, 1000, "Most queries in one SearchBatch");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20, "Largest request message, bytes");
ABSL_FLAG(int32_t, threads, 0, "Threads for index builds and scans; 0 = all cores");
ABSL_FLAG(uint32_t, rebuild_min_changes, 1000,
          "Insert new items into the HNSW graphs once this many have arrived; rebuild "
          "after this many deletes/replacements (or 10%)");
ABSL_FLAG(bool, encoder_tls, false,
          "Dial --encoder with TLS (system roots unless --encoder_tls_ca)");
ABSL_FLAG(std::string, encoder_tls_ca, "",
          "PEM CA the encoder's certificate must chain to (implies TLS)");
ABSL_FLAG(std::string, encoder_tls_cert, "", "PEM client certificate for the encoder (mutual TLS)");
ABSL_FLAG(std::string, encoder_tls_key, "", "PEM private key of --encoder_tls_cert");
ABSL_FLAG(std::string, encoder_tls_server_name, "",
          "Name the encoder's certificate must carry, if not the host of --encoder");
ABSL_FLAG(std::string, encoder_token_file, "",
          "File whose first token is sent to the encoder as 'authorization: Bearer TOKEN'");

namespace latentsearch::search {
namespace {

constexpr char kUsage[] =
    "latentsearch-search: collections of vectors with exact and HNSW k-NN search "
    "over gRPC (latentsearch.v1.Search).";

// The gRPC client for --encoder (nullptr when it is empty).
absl::StatusOr<std::shared_ptr<EncoderClient>> EncoderFromFlags() {
  const std::string address = absl::GetFlag(FLAGS_encoder);
  if (address.empty()) return std::shared_ptr<EncoderClient>();
  absl::StatusOr<rpc::ClientSecurityOptions> security = rpc::ClientSecurityFromFiles(
      absl::GetFlag(FLAGS_encoder_tls), absl::GetFlag(FLAGS_encoder_tls_ca),
      absl::GetFlag(FLAGS_encoder_tls_cert), absl::GetFlag(FLAGS_encoder_tls_key),
      absl::GetFlag(FLAGS_encoder_tls_server_name), "", absl::GetFlag(FLAGS_encoder_token_file));
  if (!security.ok()) {
    return absl::Status(security.status().code(),
                        absl::StrCat("encoder: ", security.status().message()));
  }
  LS_ASSIGN_OR_RETURN(std::shared_ptr<EncoderClient> client,
                      GrpcEncoderClient::Create(address, *security));
  return client;
}

absl::StatusOr<SearchCoreOptions> OptionsFromFlags() {
  SearchCoreOptions options;
  options.collections.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.collections.max_k = absl::GetFlag(FLAGS_max_k);
  options.collections.max_batch_queries = absl::GetFlag(FLAGS_max_batch_queries);
  options.collections.num_threads = absl::GetFlag(FLAGS_threads);
  options.collections.collection.rebuild_min_changes = absl::GetFlag(FLAGS_rebuild_min_changes);
  LS_ASSIGN_OR_RETURN(options.encoder, EncoderFromFlags());
  return options;
}

// The standalone server: whole collections in this process.
int RunStandalone(services::ServiceMain& m) {
  absl::StatusOr<SearchCoreOptions> options = OptionsFromFlags();
  if (!options.ok()) return m.Fail(options.status());
  absl::StatusOr<std::unique_ptr<SearchCore>> core = SearchCore::Create(*options);
  if (!core.ok()) return m.Fail(core.status());
  const CollectionManager& collections = (*core)->collections();
  for (const FailedCollection& failed : collections.FailedCollections()) {
    LOG(WARNING) << "collection '" << failed.name
                 << "' failed to load and is not served: " << failed.error;
  }
  SearchService service(core->get());
  RegisterSearchMetrics(&collections, m.metrics());
  rpc::ServerOptions serve;
  serve.listen = absl::GetFlag(FLAGS_listen);
  serve.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  serve.health_names = {"latentsearch.v1.Search"};
  if (absl::Status s = m.Start(serve, {&service}); !s.ok()) return m.Fail(s);
  m.Announce(absl::StrCat("data_dir ", options->collections.data_dir, ", ",
                          collections.ListCollections().size(), " collections"));
  return m.WaitAndDrain();
}

// How cluster roles dial search nodes (--peer_* flags).
absl::StatusOr<rpc::ClientSecurityOptions> PeerSecurityFromFlags() {
  absl::StatusOr<rpc::ClientSecurityOptions> security = rpc::ClientSecurityFromFiles(
      absl::GetFlag(FLAGS_peer_tls), absl::GetFlag(FLAGS_peer_tls_ca),
      absl::GetFlag(FLAGS_peer_tls_cert), absl::GetFlag(FLAGS_peer_tls_key),
      absl::GetFlag(FLAGS_peer_tls_server_name), "", absl::GetFlag(FLAGS_peer_token_file));
  if (!security.ok()) {
    return absl::Status(security.status().code(),
                        absl::StrCat("peer flags: ", security.status().message()));
  }
  return security;
}

// The placement in etcd (--etcd).
absl::StatusOr<std::unique_ptr<latentsearch::cluster::PlacementStore>> StoreFromFlags() {
  const std::string etcd = absl::GetFlag(FLAGS_etcd);
  if (etcd.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--role=", absl::GetFlag(FLAGS_role), " needs --etcd (etcd client URLs)"));
  }
  latentsearch::cluster::EtcdClientOptions options;
  options.endpoints = absl::StrSplit(etcd, ',', absl::SkipEmpty());
  LS_ASSIGN_OR_RETURN(std::unique_ptr<latentsearch::cluster::EtcdClient> client,
                      latentsearch::cluster::EtcdClient::Create(options));
  return std::make_unique<latentsearch::cluster::PlacementStore>(std::move(client));
}

// A cluster node: shard replicas behind the internal SearchNode service.
int RunNode(services::ServiceMain& m) {
  absl::StatusOr<SearchCoreOptions> flags = OptionsFromFlags();
  if (!flags.ok()) return m.Fail(flags.status());
  if (flags->encoder != nullptr) {
    return m.Fail(absl::InvalidArgumentError(
        "--encoder belongs to the routers in a cluster (they encode image queries once)"));
  }
  cluster::NodeCoreOptions options;
  options.collections = flags->collections;
  options.refresh_interval = absl::GetFlag(FLAGS_refresh_interval);
  options.address = absl::GetFlag(FLAGS_advertise);
  const std::string listen = absl::GetFlag(FLAGS_listen);
  if (options.address.empty() && !absl::EndsWith(listen, ":0")) options.address = listen;
  absl::StatusOr<rpc::ClientSecurityOptions> security = PeerSecurityFromFlags();
  if (!security.ok()) return m.Fail(security.status());
  absl::StatusOr<std::unique_ptr<latentsearch::cluster::PlacementStore>> store = StoreFromFlags();
  if (!store.ok()) return m.Fail(store.status());
  auto peers = std::make_shared<cluster::NodeClientPeers>(
      cluster::GrpcNodeClient::Dialer(*security), absl::Seconds(30));
  cluster::NodeMetrics metrics(m.metrics());
  metrics.Install(&options);
  absl::StatusOr<std::unique_ptr<cluster::NodeCore>> core =
      cluster::NodeCore::Create(options, peers);
  if (!core.ok()) return m.Fail(core.status());
  metrics.Watch(core->get());
  absl::Cleanup unwatch = [&metrics] { metrics.Unwatch(); };  // before the core goes
  cluster::NodeService service(core->get());
  rpc::ServerOptions serve;
  serve.listen = listen;
  serve.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  serve.health_names = {"latentsearch.v1.SearchNode"};
  serve.initially_not_serving = {"latentsearch.v1.SearchNode"};
  if (absl::Status s = m.Start(serve, {&service}); !s.ok()) return m.Fail(s);
  cluster::StorePlacementSource source(store->get());
  rpc::Server* server = m.server();
  cluster::NodeAgent agent(core->get(), &source, options.refresh_interval, [server](bool ready) {
    server->SetServing("latentsearch.v1.SearchNode", ready);
  });
  if (absl::Status s = agent.RefreshOnce(); !s.ok()) {
    LOG(WARNING) << "first placement read failed (retried every refresh interval): " << s;
  }
  agent.Start();
  m.Announce(absl::StrCat("node ", options.address, ", data_dir ", options.collections.data_dir,
                          ", etcd ", absl::GetFlag(FLAGS_etcd)));
  return m.WaitAndDrain([&agent] { agent.Stop(); });
}

// A cluster router: the Search API (and Cluster admin) over the nodes.
int RunRouter(services::ServiceMain& m) {
  absl::StatusOr<SearchCoreOptions> flags = OptionsFromFlags();
  if (!flags.ok()) return m.Fail(flags.status());
  absl::StatusOr<rpc::ClientSecurityOptions> security = PeerSecurityFromFlags();
  if (!security.ok()) return m.Fail(security.status());
  const std::string etcd = absl::GetFlag(FLAGS_etcd);
  if (etcd.empty()) return m.Fail(absl::InvalidArgumentError("--role=router needs --etcd"));
  cluster::RouterCoreOptions options;
  options.etcd_endpoints = absl::StrSplit(etcd, ',', absl::SkipEmpty());
  options.dial = cluster::GrpcNodeClient::Dialer(*security);
  options.refresh_interval = absl::GetFlag(FLAGS_refresh_interval);
  options.encoder = flags->encoder;
  options.max_k = flags->collections.max_k;
  options.max_batch_queries = flags->collections.max_batch_queries;
  options.max_dim = flags->collections.max_dim;
  options.name = absl::GetFlag(FLAGS_listen);
  cluster::RouterMetrics metrics(m.metrics());
  metrics.Install(&options);
  absl::StatusOr<std::unique_ptr<cluster::RouterCore>> core =
      cluster::RouterCore::Create(std::move(options));
  if (!core.ok()) return m.Fail(core.status());
  metrics.Watch(&(*core)->view());
  absl::Cleanup unwatch = [&metrics] { metrics.Unwatch(); };  // before the core goes
  cluster::RouterSearchService search(core->get());
  cluster::ClusterService admin(core->get());
  rpc::ServerOptions serve;
  serve.listen = absl::GetFlag(FLAGS_listen);
  serve.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  serve.health_names = {"latentsearch.v1.Search", "latentsearch.v1.Cluster"};
  if (absl::Status s = m.Start(serve, {&search, &admin}); !s.ok()) return m.Fail(s);
  m.Announce(absl::StrCat("router, etcd ", etcd));
  return m.WaitAndDrain();
}

int Main(int argc, char** argv) {
  services::ServiceMain m("latentsearch-search");
  if (absl::Status s = m.Init(argc, argv, kUsage); !s.ok()) return m.Fail(s);
  const std::string role = absl::GetFlag(FLAGS_role);
  if (role == "standalone") return RunStandalone(m);
  if (role == "node") return RunNode(m);
  if (role == "router") return RunRouter(m);
  return m.Fail(absl::InvalidArgumentError(
      absl::StrCat("--role=", role, " is not a role; allowed: standalone, node, router")));
}

}  // namespace
}  // namespace latentsearch::search

int main(int argc, char** argv) { return latentsearch::search::Main(argc, argv); }

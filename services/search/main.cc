// latentsearch-search: flags -> SearchCoreOptions -> SearchCore::Create ->
// serve through the common bootstrap until SIGTERM/SIGINT, then drain.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/rpc/channel.h"
#include "common/rpc/metrics.h"
#include "common/rpc/metrics_server.h"
#include "common/rpc/rpc_metrics.h"
#include "common/rpc/security.h"
#include "common/rpc/server.h"
#include "common/rpc/shutdown_signal.h"
#include "services/common/server_flags.h"
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
ABSL_FLAG(uint32_t, max_k, 1000, "Largest k a search may ask for");
ABSL_FLAG(uint32_t, max_batch_queries, 1000, "Most queries in one SearchBatch");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20, "Largest request message, bytes");
ABSL_FLAG(int32_t, threads, 0, "Threads for index builds and scans; 0 = all cores");
ABSL_FLAG(uint32_t, rebuild_min_changes, 1000,
          "Rebuild an HNSW graph after this many upserts/deletes (or 10%)");
ABSL_FLAG(double, drain_seconds, 10, "On SIGTERM, how long in-flight RPCs may finish");
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

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "latentsearch-search: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "latentsearch-search: collections of vectors with exact and HNSW k-NN search "
      "over gRPC (latentsearch.v1.Search).");
  absl::ParseCommandLine(argc, argv);
  using latentsearch::search::SearchCore;

  latentsearch::search::SearchCoreOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.max_k = absl::GetFlag(FLAGS_max_k);
  options.max_batch_queries = absl::GetFlag(FLAGS_max_batch_queries);
  options.num_threads = absl::GetFlag(FLAGS_threads);
  options.collection.rebuild_min_changes = absl::GetFlag(FLAGS_rebuild_min_changes);
  absl::StatusOr<std::unique_ptr<SearchCore>> core = SearchCore::Create(options);
  if (!core.ok()) return Fail(core.status().ToString());
  for (const auto& failed : (*core)->FailedCollections()) {
    std::fprintf(stderr,
                 "latentsearch-search: collection '%s' failed to load and is not "
                 "served: %s\n",
                 failed.name.c_str(), failed.error.ToString().c_str());
  }

  std::string encoder_address = absl::GetFlag(FLAGS_encoder);
  std::shared_ptr<grpc::Channel> encoder;
  if (!encoder_address.empty()) {
    absl::StatusOr<latentsearch::rpc::ClientSecurityOptions> encoder_security =
        latentsearch::rpc::ClientSecurityFromFiles(
            absl::GetFlag(FLAGS_encoder_tls), absl::GetFlag(FLAGS_encoder_tls_ca),
            absl::GetFlag(FLAGS_encoder_tls_cert), absl::GetFlag(FLAGS_encoder_tls_key),
            absl::GetFlag(FLAGS_encoder_tls_server_name), "",
            absl::GetFlag(FLAGS_encoder_token_file));
    if (!encoder_security.ok()) return Fail("encoder: " + encoder_security.status().ToString());
    latentsearch::rpc::ChannelOptions channel_options;
    if (absl::Status s = latentsearch::rpc::ApplyClientSecurity(*encoder_security, encoder_address,
                                                                &channel_options);
        !s.ok()) {
      return Fail("encoder: " + s.ToString());
    }
    encoder = latentsearch::rpc::CreateChannel(encoder_address, channel_options);
  }
  latentsearch::search::SearchService service(core->get(), encoder, encoder_address);

  latentsearch::rpc::ServerOptions server_options;
  server_options.listen = absl::GetFlag(FLAGS_listen);
  server_options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  server_options.health_names = {"latentsearch.v1.Search"};
  if (absl::Status s = latentsearch::services::ApplySecurityFlags(&server_options); !s.ok()) {
    return Fail(s.ToString());
  }
  latentsearch::rpc::MetricsRegistry metrics;
  latentsearch::rpc::RpcMetrics rpc_metrics(&metrics);
  latentsearch::search::RegisterSearchMetrics(core->get(), &metrics);
  server_options.metrics = &rpc_metrics;
  auto metrics_server = latentsearch::services::StartMetricsFromFlags(&metrics);
  if (!metrics_server.ok()) return Fail(metrics_server.status().ToString());
  if (absl::Status s = latentsearch::rpc::ShutdownSignal::Install(); !s.ok()) {
    return Fail(s.ToString());
  }
  auto server = latentsearch::rpc::Server::Start(server_options, {&service});
  if (!server.ok()) return Fail(server.status().ToString());
  std::fprintf(stderr, "latentsearch-search: listening on %s (data_dir %s, %zu collections, %s)\n",
               (*server)->address().c_str(), options.data_dir.c_str(),
               (*core)->ListCollections().size(),
               latentsearch::rpc::DescribeServerSecurity(server_options.security).c_str());
  // After the gRPC line: tests take the first "listening on" as the gRPC address.
  if (*metrics_server != nullptr) {
    std::fprintf(stderr, "latentsearch-search: metrics listening on %s\n",
                 (*metrics_server)->address().c_str());
  }
  std::fflush(stderr);

  int sig = latentsearch::rpc::ShutdownSignal::Wait();
  std::fprintf(stderr, "latentsearch-search: signal %d, draining\n", sig);
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)));
  if (*metrics_server != nullptr) (*metrics_server)->Stop();
  std::fprintf(stderr, "latentsearch-search: stopped\n");
  return 0;
}

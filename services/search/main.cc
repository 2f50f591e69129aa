// latentsearch-search: flags -> SearchCoreOptions (with a gRPC encoder
// client for --encoder) -> SearchCore::Create -> serve through the shared
// bootstrap (services/common/service_main.h) until SIGTERM/SIGINT, then
// drain.
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/rpc/security.h"
#include "services/common/service_main.h"
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
ABSL_FLAG(uint32_t, max_k, 1000, "Largest k a search may ask for");
ABSL_FLAG(uint32_t, max_batch_queries, 1000, "Most queries in one SearchBatch");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20, "Largest request message, bytes");
ABSL_FLAG(int32_t, threads, 0, "Threads for index builds and scans; 0 = all cores");
ABSL_FLAG(uint32_t, rebuild_min_changes, 1000,
          "Rebuild an HNSW graph after this many upserts/deletes (or 10%)");
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

int Main(int argc, char** argv) {
  services::ServiceMain m("latentsearch-search");
  if (absl::Status s = m.Init(argc, argv, kUsage); !s.ok()) return m.Fail(s);
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

}  // namespace
}  // namespace latentsearch::search

int main(int argc, char** argv) { return latentsearch::search::Main(argc, argv); }

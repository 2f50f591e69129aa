// Transport security and bearer-token auth for every latentsearch server and
// client: optional TLS (server certificate; with a client CA, mutual TLS
// that requires and verifies client certificates) and optional bearer
// tokens checked by a grpc::AuthMetadataProcessor before any handler runs.
//
// Server side (ServerOptions::security, applied by Server::Start):
//   - tls_cert_file + tls_key_file: TLS. + tls_client_ca_file: mTLS.
//   - auth_tokens: every call except the gRPC health service
//     (grpc.health.v1.Health, left open for probes) must carry
//     "authorization: Bearer <one of the tokens>", else UNAUTHENTICATED and
//     the handler never runs.
//   - Tokens need TLS: gRPC sends call credentials and runs an
//     AuthMetadataProcessor only on secure transports. With
//     allow_insecure_tokens the server instead uses gRPC's *local*
//     credentials, which accept only loopback TCP and unix-socket peers (a
//     connection from another host fails its handshake), so tokens never
//     cross a network in clear text.
//
// Client side (ClientSecurityOptions -> ChannelOptions::credentials):
//   - tls (implied by any tls_* file): TLS, verifying the server against
//     tls_ca_file (system roots when empty); tls_cert_file + tls_key_file
//     present a client certificate (mTLS).
//   - token: sent as "authorization: Bearer <token>" on every call; without
//     TLS over gRPC local credentials (loopback / unix sockets only).
//
// Thread-safety: pure functions; the processor is thread-safe.
#ifndef LATENTSEARCH_COMMON_RPC_SECURITY_H_
#define LATENTSEARCH_COMMON_RPC_SECURITY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rpc/channel.h"
#include "common/rpc/rpc_metrics.h"
#include "grpcpp/security/server_credentials.h"

namespace latentsearch::rpc {

struct ServerSecurityOptions {
  // PEM certificate chain and private key; both set = TLS, both empty =
  // plaintext.
  std::string tls_cert_file;
  std::string tls_key_file;
  // PEM CA bundle; set = clients must present a certificate it signed
  // (mTLS). Needs TLS.
  std::string tls_client_ca_file;
  // Accepted bearer tokens (see ReadTokensFile); empty = no token auth.
  std::vector<std::string> auth_tokens;
  // Tokens without TLS over gRPC local credentials (loopback TCP and unix
  // socket peers only). Without TLS and without this, tokens are refused.
  bool allow_insecure_tokens = false;
};

// Builds the server credentials for `listen` (HOST:PORT or unix:PATH).
// Plaintext (InsecureServerCredentials) when nothing is configured.
// `metrics` (may be null; must outlive the credentials) counts refused calls.
// INVALID_ARGUMENT for inconsistent options (key without cert, client CA
// without TLS, tokens without TLS or allow_insecure_tokens), NOT_FOUND /
// PERMISSION_DENIED naming an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurityOptions& options, const std::string& listen, RpcMetrics* metrics = nullptr);

// Reads a tokens file: one token per line; blank lines and lines starting
// with '#' are skipped; surrounding whitespace is trimmed. A token is 16 to
// 4,096 printable ASCII characters without spaces. INVALID_ARGUMENT naming
// the line for a bad token or when the file holds none.
absl::StatusOr<std::vector<std::string>> ReadTokensFile(const std::string& path);

struct ClientSecurityOptions {
  // Use TLS. Implied by any of the tls_* files below.
  bool tls = false;
  // PEM CA bundle the server certificate must chain to; empty = the system
  // roots.
  std::string tls_ca_file;
  // Client certificate chain and key (PEM) for mTLS; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Name to check the server certificate against instead of the host of
  // the address (e.g. when dialling an IP that is not in the certificate).
  std::string tls_server_name;
  // Bearer token sent with every call; empty = none.
  std::string token;
};

// Sets options->credentials (and the TLS name override) for dialling
// `address`. Leaves them unset (plaintext) when nothing is configured.
// INVALID_ARGUMENT for a cert without key (or the reverse), NOT_FOUND /
// PERMISSION_DENIED naming an unreadable file.
absl::Status ApplyClientSecurity(const ClientSecurityOptions& security, const std::string& address,
                                 ChannelOptions* options);

// The first token in a tokens file (same format as ReadTokensFile), for
// clients' --token_file.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// For the binaries' main(): the server options from the values of
// --tls_cert, --tls_key, --tls_client_ca, --auth_tokens_file and
// --allow_insecure_tokens (tokens read from the file; "" = unset).
absl::StatusOr<ServerSecurityOptions> ServerSecurityFromFiles(const std::string& tls_cert,
                                                              const std::string& tls_key,
                                                              const std::string& tls_client_ca,
                                                              const std::string& auth_tokens_file,
                                                              bool allow_insecure_tokens);

// For clients' main(): the client options from TLS file paths, a token or a
// token file (not both), and a server-name override ("" = unset).
// Validated by a dry ApplyClientSecurity, so bad files fail at start-up.
absl::StatusOr<ClientSecurityOptions> ClientSecurityFromFiles(
    bool tls, const std::string& tls_ca, const std::string& tls_cert, const std::string& tls_key,
    const std::string& tls_server_name, const std::string& token, const std::string& token_file);

// "TLS", "mTLS", "TLS + tokens", "tokens (local peers only)", "plaintext":
// for start-up log lines.
std::string DescribeServerSecurity(const ServerSecurityOptions& options);

}  // namespace latentsearch::rpc

#endif  // LATENTSEARCH_COMMON_RPC_SECURITY_H_

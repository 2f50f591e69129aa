#include "common/rpc/security.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/file.h"
#include "common/base/status_macros.h"
#include "common/rpc/server.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/credentials.h"

namespace latentsearch::rpc {
namespace {

constexpr char kHealthPrefix[] = "/grpc.health.v1.Health/";
constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 4096;

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("cannot read the ", what, " '", path,
                                                           "': ", text.status().message()));
  }
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " '", path, "' is not PEM (no '-----BEGIN' line)"));
  }
  return text;
}

// Compares without an early exit, so the time taken does not reveal how
// much of a guess was right.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

std::string Ref(const grpc::string_ref& s) { return std::string(s.data(), s.size()); }

// Checks "authorization: Bearer <token>" before any handler runs; the
// health service stays open. Runs inline on gRPC's thread (non-blocking:
// a set lookup).
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  TokenAuthProcessor(std::vector<std::string> tokens, RpcMetrics* metrics)
      : tokens_(std::move(tokens)), metrics_(metrics) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext*,
                       OutputMetadata* consumed_auth_metadata, OutputMetadata*) override {
    auto path = auth_metadata.find(":path");
    if (path != auth_metadata.end() && absl::StartsWith(Ref(path->second), kHealthPrefix)) {
      return grpc::Status::OK;
    }
    auto header = auth_metadata.find("authorization");
    if (header == auth_metadata.end()) {
      return Refuse("missing",
                    "this service requires a bearer token: send the metadata "
                    "'authorization: Bearer TOKEN' (latentsearch CLI: --token_file or "
                    "--token)");
    }
    const std::string value = Ref(header->second);
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWith(value, kBearer)) {
      return Refuse("malformed", "the authorization metadata must be 'Bearer TOKEN'");
    }
    const std::string token = value.substr(kBearer.size());
    bool match = false;
    for (const std::string& t : tokens_) match |= ConstantTimeEquals(t, token);
    if (!match) return Refuse("invalid", "the bearer token is not accepted by this service");
    // Handlers need not see the token.
    consumed_auth_metadata->insert(std::make_pair(Ref(header->first), value));
    return grpc::Status::OK;
  }

 private:
  grpc::Status Refuse(const char* reason, const std::string& message) {
    if (metrics_ != nullptr) metrics_->AuthFailure(reason);
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, message);
  }

  const std::vector<std::string> tokens_;
  RpcMetrics* const metrics_;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> ReadTokensFile(const std::string& path) {
  absl::StatusOr<std::string> text = base::ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("cannot read the tokens file '", path,
                                                           "': ", text.status().message()));
  }
  std::vector<std::string> tokens;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    bool printable = true;
    for (char c : line) printable &= (c > ' ' && c < 0x7f);
    if (!printable || line.size() < kMinTokenBytes || line.size() > kMaxTokenBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens file '", path, "' line ", line_no, ": a token must be ",
                       kMinTokenBytes, " to ", kMaxTokenBytes,
                       " printable ASCII characters without spaces (e.g. `openssl rand -hex 32`)"));
    }
    tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokens file '", path, "' holds no token (one per line; '#' starts a comment)"));
  }
  return tokens;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  LS_ASSIGN_OR_RETURN(std::vector<std::string> tokens, ReadTokensFile(path));
  return tokens.front();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurityOptions& options, const std::string& listen, RpcMetrics* metrics) {
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (tls && (options.tls_cert_file.empty() || options.tls_key_file.empty())) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate (--tls_cert) and its private key (--tls_key)");
  }
  if (!tls && !options.tls_client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "a client CA (--tls_client_ca, mutual TLS) needs TLS: also set --tls_cert and "
        "--tls_key");
  }
  const bool tokens = !options.auth_tokens.empty();
  if (tokens && !tls && !options.allow_insecure_tokens) {
    return absl::InvalidArgumentError(
        "bearer tokens (--auth_tokens_file) need TLS (--tls_cert and --tls_key), or "
        "--allow_insecure_tokens to accept them in clear text from loopback and unix "
        "socket peers only");
  }
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (tls) {
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    LS_ASSIGN_OR_RETURN(pair.cert_chain, ReadPem(options.tls_cert_file, "TLS certificate"));
    LS_ASSIGN_OR_RETURN(pair.private_key, ReadPem(options.tls_key_file, "TLS private key"));
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    if (!options.tls_client_ca_file.empty()) {
      LS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options.tls_client_ca_file, "TLS client CA"));
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    } else {
      ssl.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    }
    creds = grpc::SslServerCredentials(ssl);
  } else if (tokens) {
    LS_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(listen));
    creds = grpc::experimental::LocalServerCredentials(address.is_unix ? UDS : LOCAL_TCP);
  } else {
    return grpc::InsecureServerCredentials();
  }
  if (creds == nullptr) {
    return absl::InvalidArgumentError("gRPC refused the server credentials");
  }
  if (tokens) {
    creds->SetAuthMetadataProcessor(
        std::make_shared<TokenAuthProcessor>(options.auth_tokens, metrics));
  }
  return creds;
}

absl::Status ApplyClientSecurity(const ClientSecurityOptions& security, const std::string& address,
                                 ChannelOptions* options) {
  const bool tls = security.tls || !security.tls_ca_file.empty() ||
                   !security.tls_cert_file.empty() || !security.tls_key_file.empty() ||
                   !security.tls_server_name.empty();
  if (security.tls_cert_file.empty() != security.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate (--tls_cert) and its private key (--tls_key) go together: "
        "set both or neither");
  }
  std::shared_ptr<grpc::ChannelCredentials> channel;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!security.tls_ca_file.empty()) {
      LS_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(security.tls_ca_file, "TLS CA"));
    }
    if (!security.tls_cert_file.empty()) {
      LS_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                          ReadPem(security.tls_cert_file, "TLS client certificate"));
      LS_ASSIGN_OR_RETURN(ssl.pem_private_key,
                          ReadPem(security.tls_key_file, "TLS client private key"));
    }
    channel = grpc::SslCredentials(ssl);
    options->ssl_target_name_override = security.tls_server_name;
  } else if (!security.token.empty()) {
    // gRPC sends call credentials only over secure transports; local
    // credentials count as one and connect only to loopback / unix sockets.
    channel =
        grpc::experimental::LocalCredentials(absl::StartsWith(address, "unix:") ? UDS : LOCAL_TCP);
  } else {
    return absl::OkStatus();
  }
  if (!security.token.empty()) {
    channel =
        grpc::CompositeChannelCredentials(channel, grpc::AccessTokenCredentials(security.token));
  }
  options->credentials = std::move(channel);
  return absl::OkStatus();
}

absl::StatusOr<ServerSecurityOptions> ServerSecurityFromFiles(const std::string& tls_cert,
                                                              const std::string& tls_key,
                                                              const std::string& tls_client_ca,
                                                              const std::string& auth_tokens_file,
                                                              bool allow_insecure_tokens) {
  ServerSecurityOptions options;
  options.tls_cert_file = tls_cert;
  options.tls_key_file = tls_key;
  options.tls_client_ca_file = tls_client_ca;
  options.allow_insecure_tokens = allow_insecure_tokens;
  if (!auth_tokens_file.empty()) {
    LS_ASSIGN_OR_RETURN(options.auth_tokens, ReadTokensFile(auth_tokens_file));
  }
  return options;
}

absl::StatusOr<ClientSecurityOptions> ClientSecurityFromFiles(
    bool tls, const std::string& tls_ca, const std::string& tls_cert, const std::string& tls_key,
    const std::string& tls_server_name, const std::string& token, const std::string& token_file) {
  if (!token.empty() && !token_file.empty()) {
    return absl::InvalidArgumentError(
        "give the bearer token once: --token or --token_file, not both");
  }
  ClientSecurityOptions options;
  options.tls = tls;
  options.tls_ca_file = tls_ca;
  options.tls_cert_file = tls_cert;
  options.tls_key_file = tls_key;
  options.tls_server_name = tls_server_name;
  options.token = token;
  if (!token_file.empty()) {
    LS_ASSIGN_OR_RETURN(options.token, ReadTokenFile(token_file));
  }
  ChannelOptions dry_run;
  LS_RETURN_IF_ERROR(ApplyClientSecurity(options, "127.0.0.1:1", &dry_run));
  return options;
}

std::string DescribeServerSecurity(const ServerSecurityOptions& options) {
  const bool tls = !options.tls_cert_file.empty();
  std::string out = !tls ? "plaintext" : options.tls_client_ca_file.empty() ? "TLS" : "mTLS";
  if (!options.auth_tokens.empty()) {
    absl::StrAppend(&out, " + ", options.auth_tokens.size(), " bearer token(s)",
                    tls ? "" : " (local peers only)");
  }
  return out;
}

}  // namespace latentsearch::rpc

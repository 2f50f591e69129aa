// Who may call the gateway: the same bearer tokens as the gRPC services
// (--auth_tokens_file, common/rpc/security.h's file format), accepted from
// an "Authorization: Bearer TOKEN" header or from the console's session
// cookie. Browsers cannot put a header on <img> or EventSource, so the
// console signs in once (POST /v1/session with the token); the gateway
// answers with the token in an HttpOnly, SameSite=Strict cookie (Secure
// under TLS), which every later request carries.
// As on the gRPC side, tokens need TLS; with allow_insecure_tokens they are
// accepted in clear text from loopback peers only (every other peer is
// refused, like gRPC's local credentials).
// Thread-safety: immutable after construction; thread-safe.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_AUTH_H_
#define LATENTSEARCH_SERVICES_GATEWAY_AUTH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace latentsearch::gateway {

inline constexpr char kSessionCookie[] = "ls_session";

struct AuthOptions {
  // Accepted tokens; empty = no authentication.
  std::vector<std::string> tokens;
  // The gateway serves TLS (cookies get the Secure attribute).
  bool tls = false;
  // Tokens without TLS, loopback peers only.
  bool allow_insecure_tokens = false;
};

class HttpAuth {
 public:
  // INVALID_ARGUMENT for tokens without TLS and without
  // allow_insecure_tokens (the gRPC services' rule and message).
  static absl::Status Validate(const AuthOptions& options);
  explicit HttpAuth(AuthOptions options) : options_(std::move(options)) {}

  bool enabled() const { return !options_.tokens.empty(); }

  // OK when the request may proceed: no tokens configured, or a valid
  // token in `authorization` (the header's value) or in `cookie_header`
  // (the Cookie header). UNAUTHENTICATED saying what is missing or wrong;
  // PERMISSION_DENIED for a non-loopback peer in insecure-token mode.
  absl::Status Check(absl::string_view authorization, absl::string_view cookie_header,
                     absl::string_view remote_addr) const;
  // OK when `token` is accepted (sign-in); UNAUTHENTICATED otherwise.
  absl::Status CheckToken(absl::string_view token) const;

  // Set-Cookie values that sign in with `token` / sign out.
  std::string SessionCookie(absl::string_view token) const;
  std::string ClearedCookie() const;

 private:
  absl::Status CheckPeer(absl::string_view remote_addr) const;
  const AuthOptions options_;
};

// The value of cookie `name` in a Cookie header ("" when absent).
std::string CookieValue(absl::string_view cookie_header, absl::string_view name);

// True for 127.0.0.0/8, ::1 and ::ffff:127.x peers.
bool IsLoopbackPeer(absl::string_view remote_addr);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_AUTH_H_

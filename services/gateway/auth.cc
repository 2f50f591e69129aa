#include "services/gateway/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace latentsearch::gateway {
namespace {

// No early exit: the time taken does not reveal how much of a guess matched.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

}  // namespace

absl::Status HttpAuth::Validate(const AuthOptions& options) {
  if (!options.tokens.empty() && !options.tls && !options.allow_insecure_tokens) {
    return absl::InvalidArgumentError(
        "bearer tokens (--auth_tokens_file) need TLS (--tls_cert and --tls_key), or "
        "--allow_insecure_tokens to accept them in clear text from loopback peers only");
  }
  return absl::OkStatus();
}

bool IsLoopbackPeer(absl::string_view addr) {
  return absl::StartsWith(addr, "127.") || addr == "::1" || absl::StartsWith(addr, "::ffff:127.");
}

std::string CookieValue(absl::string_view cookie_header, absl::string_view name) {
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) continue;
    if (part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
  }
  return "";
}

absl::Status HttpAuth::CheckPeer(absl::string_view remote_addr) const {
  if (!options_.tls && options_.allow_insecure_tokens && !IsLoopbackPeer(remote_addr)) {
    return absl::PermissionDeniedError(
        absl::StrCat("this gateway accepts tokens in clear text (--allow_insecure_tokens) and so "
                     "serves loopback peers only; ",
                     remote_addr, " is not one"));
  }
  return absl::OkStatus();
}

absl::Status HttpAuth::CheckToken(absl::string_view token) const {
  bool match = false;
  for (const std::string& t : options_.tokens) match |= ConstantTimeEquals(t, token);
  if (!match) return absl::UnauthenticatedError("the bearer token is not accepted by this gateway");
  return absl::OkStatus();
}

absl::Status HttpAuth::Check(absl::string_view authorization, absl::string_view cookie_header,
                             absl::string_view remote_addr) const {
  if (!enabled()) return absl::OkStatus();
  if (absl::Status s = CheckPeer(remote_addr); !s.ok()) return s;
  if (!authorization.empty()) {
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWith(authorization, kBearer)) {
      return absl::UnauthenticatedError("the Authorization header must be 'Bearer TOKEN'");
    }
    return CheckToken(authorization.substr(kBearer.size()));
  }
  const std::string cookie = CookieValue(cookie_header, kSessionCookie);
  if (!cookie.empty()) return CheckToken(cookie);
  return absl::UnauthenticatedError(
      "this gateway requires a bearer token: send 'Authorization: Bearer TOKEN', or sign in "
      "with POST /v1/session {\"token\": TOKEN} (the console does) to get a session cookie");
}

std::string HttpAuth::SessionCookie(absl::string_view token) const {
  return absl::StrCat(kSessionCookie, "=", token, "; Path=/; HttpOnly; SameSite=Strict",
                      options_.tls ? "; Secure" : "");
}

std::string HttpAuth::ClearedCookie() const {
  return absl::StrCat(kSessionCookie, "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                      options_.tls ? "; Secure" : "");
}

}  // namespace latentsearch::gateway

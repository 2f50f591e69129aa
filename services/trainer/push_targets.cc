#include "services/trainer/push_targets.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace latentsearch::trainer {
namespace {

constexpr char kAllowed[] =
    "expected HOST:PORT, unix:PATH, dns:///NAME:PORT (every address NAME resolves to) or "
    "ipv4:A:PORT,B:PORT / ipv6:[A]:PORT,[B]:PORT";

struct HostPort {
  std::string host;  // IPv6 literals without brackets.
  std::string port;
};

// Splits "HOST:PORT" or "[V6]:PORT"; false when either part is missing or
// the port is not a number in 1..65535.
bool SplitHostPort(absl::string_view s, HostPort* out) {
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(s, "[")) {
    const size_t close = s.find(']');
    if (close == absl::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return false;
    }
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == absl::string_view::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  int p = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &p) || p < 1 || p > 65535) return false;
  out->host = std::string(host);
  out->port = std::string(port);
  return true;
}

std::string JoinHostPort(const std::string& host, const std::string& port) {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                             : absl::StrCat(host, ":", port);
}

absl::Status Invalid(const std::string& target, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("push target '", target, "': ", why, "; ", kAllowed));
}

// The NAME:PORT part of a dns: target ("dns:NAME:PORT", "dns:///NAME:PORT").
absl::StatusOr<HostPort> ParseDns(const std::string& target) {
  absl::string_view rest = absl::string_view(target).substr(4);
  if (absl::StartsWith(rest, "//")) {
    rest.remove_prefix(2);
    const size_t slash = rest.find('/');
    if (slash == absl::string_view::npos) return Invalid(target, "no name after the DNS server");
    if (slash != 0) return Invalid(target, "a DNS server of its own is not supported");
    rest.remove_prefix(1);
  }
  HostPort hp;
  if (!SplitHostPort(rest, &hp)) return Invalid(target, "a dns: target needs NAME:PORT");
  return hp;
}

// The entries of an ipv4:/ipv6: list, each as HOST:PORT.
absl::StatusOr<std::vector<std::string>> ParseList(const std::string& target) {
  const size_t colon = target.find(':');
  std::vector<std::string> out;
  for (absl::string_view entry : absl::StrSplit(target.substr(colon + 1), ',')) {
    HostPort hp;
    if (!SplitHostPort(entry, &hp)) {
      return Invalid(target, absl::StrCat("list entry '", entry, "' is not ADDRESS:PORT"));
    }
    out.push_back(JoinHostPort(hp.host, hp.port));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("'", host, "' does not resolve: ", gai_strerror(rc)));
  }
  std::vector<std::string> out;
  for (const addrinfo* a = result; a != nullptr; a = a->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* src = nullptr;
    if (a->ai_family == AF_INET) {
      src = &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
    } else if (a->ai_family == AF_INET6) {
      src = &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
    }
    if (src != nullptr && inet_ntop(a->ai_family, src, buf, sizeof(buf)) != nullptr) {
      out.emplace_back(buf);
    }
  }
  freeaddrinfo(result);
  if (out.empty()) return absl::UnavailableError(absl::StrCat("'", host, "' has no address"));
  return out;
}

bool NamesReplicaSet(const std::string& target) {
  return absl::StartsWith(target, "dns:") || absl::StartsWith(target, "ipv4:") ||
         absl::StartsWith(target, "ipv6:");
}

absl::Status ValidatePushTarget(const std::string& target) {
  if (target.empty()) return Invalid(target, "empty");
  if (absl::StartsWith(target, "dns:")) return ParseDns(target).status();
  if (NamesReplicaSet(target)) return ParseList(target).status();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ExpandPushTarget(const std::string& target,
                                                          const HostResolver& resolve) {
  if (absl::Status s = ValidatePushTarget(target); !s.ok()) return s;
  if (!absl::StartsWith(target, "dns:")) {
    if (NamesReplicaSet(target)) return ParseList(target);
    return std::vector<std::string>{target};
  }
  absl::StatusOr<HostPort> hp = ParseDns(target);
  if (!hp.ok()) return hp.status();
  absl::StatusOr<std::vector<std::string>> hosts = resolve(hp->host);
  if (!hosts.ok()) {
    return absl::Status(hosts.status().code(),
                        absl::StrCat("push target ", target, ": ", hosts.status().message()));
  }
  if (hosts->empty()) {
    return absl::UnavailableError(absl::StrCat("push target ", target, ": no address"));
  }
  std::vector<std::string> out;
  for (const std::string& h : *hosts) out.push_back(JoinHostPort(h, hp->port));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace latentsearch::trainer

// Push targets that name several encoder replicas: a `dns:` name (every
// address it resolves to, looked up again at every push) or an
// `ipv4:`/`ipv6:` list (each entry). PushQueue expands such a target into
// one address per replica and pushes to each; any other target (HOST:PORT,
// unix:PATH) is one encoder, dialled as gRPC dials it.
// Thread-safety: pure functions; ResolveHost is thread-safe (getaddrinfo).
#ifndef LATENTSEARCH_SERVICES_TRAINER_PUSH_TARGETS_H_
#define LATENTSEARCH_SERVICES_TRAINER_PUSH_TARGETS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace latentsearch::trainer {

// The IP literals `host` resolves to now (IPv6 ones without brackets).
// UNAVAILABLE naming the host when it resolves to nothing (also "no such
// name": a Kubernetes headless Service without ready pods answers so).
using HostResolver = std::function<absl::StatusOr<std::vector<std::string>>(const std::string&)>;

// HostResolver over the system resolver (getaddrinfo).
absl::StatusOr<std::vector<std::string>> ResolveHost(const std::string& host);

// True for `dns:...` targets and `ipv4:`/`ipv6:` address lists.
bool NamesReplicaSet(const std::string& target);

// Checks a push target's syntax without resolving it. INVALID_ARGUMENT
// naming the target and what is allowed: an empty target, a dns: target
// without host or port, with a DNS server ("dns://SERVER/..."), an empty
// list entry or one without a port.
absl::Status ValidatePushTarget(const std::string& target);

// The replica addresses of `target` ("10.0.0.5:50052", "[fd00::5]:50052"):
// for a dns: name every address `resolve` gives for its host, sorted, with
// its port; for a list each entry; for any other target {target}. Errors:
// ValidatePushTarget's, and `resolve`'s (UNAVAILABLE naming the target).
absl::StatusOr<std::vector<std::string>> ExpandPushTarget(const std::string& target,
                                                          const HostResolver& resolve);

}  // namespace latentsearch::trainer

#endif  // LATENTSEARCH_SERVICES_TRAINER_PUSH_TARGETS_H_

// A small client for etcd v3, where the search cluster keeps its placement
// (docs/cluster.md): reads, writes and the compare-and-set transactions the
// routers need, over etcd's HTTP/JSON gateway (/v3/kv/range, /v3/kv/put,
// /v3/kv/deleterange, /v3/kv/txn; etcd 3.4 as in Debian 12). JSON travels
// through protobuf's JSON mapping over protos/etcd/etcd_gateway.proto (keys
// and values base64, int64 as strings); HTTP through cpp-httplib.
//
// Endpoints are tried in order, starting with the last one that answered;
// an endpoint that cannot be reached within the timeout, or whose etcd
// answers UNAVAILABLE (no leader), is logged and the next one is tried.
// Note that a request that timed out may still have been applied: retried
// on the next endpoint, a CreateIfAbsent then answers false with
// `existing` holding the value this very call wrote (callers that care
// compare the value), and a CompareAndSwap false (the revision moved).
//
// Errors: UNAVAILABLE naming every endpoint and why it failed when none
// answered; INTERNAL with etcd's message when etcd refused the request (its
// gateway's error body) or answered something unreadable; INVALID_ARGUMENT
// from Create for an endpoint that is not [http://|https://]host:port.
//
// Thread-safety: EtcdClient is thread-safe; each call opens its own HTTP
// connection (placement traffic is a few calls per refresh interval).
#ifndef LATENTSEARCH_COMMON_CLUSTER_ETCD_CLIENT_H_
#define LATENTSEARCH_COMMON_CLUSTER_ETCD_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace latentsearch::cluster {

// One stored key.
struct KeyValue {
  std::string key;
  std::string value;
  // The revision that created the key (0 = absent) and the one that last
  // modified it: pass mod_revision to CompareAndSwap / CompareAndDelete.
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct EtcdClientOptions {
  // etcd client URLs, e.g. "http://127.0.0.1:2379" ("host:port" means
  // http); at least one. The members of one etcd cluster.
  std::vector<std::string> endpoints;
  // For each endpoint tried: connecting, sending the request and reading
  // the answer. A call takes at most timeout × endpoints.size().
  absl::Duration timeout = absl::Seconds(2);
  // Keys per GetPrefix request (etcd's range limit); at least 1.
  int64_t range_page_size = 1000;
};

class EtcdClient {
 public:
  using Options = EtcdClientOptions;

  // Checks the endpoints' syntax; connects to nothing.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(const Options& options);

  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // The key, or nullopt when absent.
  absl::StatusOr<std::optional<KeyValue>> Get(const std::string& key);

  // Every key starting with `prefix` ("" = every key), ascending, read at
  // one revision (pages of Options::range_page_size keys).
  absl::StatusOr<std::vector<KeyValue>> GetPrefix(const std::string& prefix);

  // Writes the key unconditionally.
  absl::Status Put(const std::string& key, const std::string& value);

  // Deletes the key (absent: OK).
  absl::Status Delete(const std::string& key);

  // Writes the key only if it is absent (one transaction on create_revision
  // == 0). True when written; false when the key exists, with *existing
  // (if not null) set to what it holds.
  absl::StatusOr<bool> CreateIfAbsent(const std::string& key, const std::string& value,
                                      KeyValue* existing);

  // Writes the key only if its mod_revision is still `expected_mod_revision`
  // (0: only if absent). False when it changed (or was deleted).
  absl::StatusOr<bool> CompareAndSwap(const std::string& key, const std::string& value,
                                      int64_t expected_mod_revision);

  // Deletes the key only if its mod_revision is still
  // `expected_mod_revision`. False when it changed or is absent.
  absl::StatusOr<bool> CompareAndDelete(const std::string& key, int64_t expected_mod_revision);

  // The endpoints as given.
  const std::vector<std::string>& endpoints() const { return options_.endpoints; }

 private:
  explicit EtcdClient(Options options) : options_(std::move(options)) {}

  // POSTs `json` to `path` on the endpoints in turn; the answer's body.
  absl::StatusOr<std::string> Post(const std::string& path, const std::string& json);
  // POSTs `request` as JSON to `path`; parses the answer into *response.
  absl::Status Call(const std::string& path, const google::protobuf::Message& request,
                    google::protobuf::Message* response);

  const Options options_;
  // The endpoint tried first: the last one that answered.
  std::atomic<size_t> preferred_{0};
};

// The range_end that makes [prefix, range_end) hold exactly the keys that
// start with `prefix` (etcd's own rule): the prefix with its last byte
// below 0xff incremented and what follows it dropped; "\0" (no upper
// bound) when there is no such byte.
std::string PrefixRangeEnd(const std::string& prefix);

}  // namespace latentsearch::cluster

#endif  // LATENTSEARCH_COMMON_CLUSTER_ETCD_CLIENT_H_

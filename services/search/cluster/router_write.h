// A router's write fan-out (docs/cluster.md, "Writes, versions and
// convergence"): versioned upserts and deletes, grouped by shard, go to
// every replica of their shard in parallel (ACTIVE, LEAVING and JOINING),
// and the write is answered once every shard has the acknowledgements its
// consistency level needs from ACTIVE and LEAVING replicas
// (cluster::RequiredAcks). The calls still running then get one more
// refresh interval; a replica whose write failed, or had not finished by
// then (the call is cancelled), is reported to the ClusterView, which
// stops reading it and tells it to resync.
//
// Answers: OK with each shard request's first acknowledging replica's
// counts; the first INVALID_ARGUMENT from a node (the client's fault); or
// UNAVAILABLE when a shard can no longer get enough acknowledgements,
// naming which replicas acknowledged and what the others said (the write
// may be partially applied).
//
// Thread-safety: thread-safe; `done` runs once, on the thread of the
// deciding answer (or inline in Start).
#ifndef LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_WRITE_H_
#define LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_WRITE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "latentsearch/v1/cluster.pb.h"
#include "services/search/cluster/router_context.h"

namespace latentsearch::search::cluster {

// One request for the replicas of one shard.
struct ShardWrite {
  uint32_t shard = 0;
  std::shared_ptr<const v1::ShardWriteRequest> request;
};

// Largest ShardWriteRequest (serialized) sent in one call: below gRPC's
// 4 MiB message limit with room for the envelope.
inline constexpr size_t kMaxShardWriteBytes = 3 << 20;

// `items` grouped by shard (cluster::ShardOf over `shards`), in shard
// order, each shard's items in their order and cut into requests of at most
// kMaxShardWriteBytes.
std::vector<ShardWrite> SplitByShard(const std::string& collection, uint32_t shards,
                                     std::vector<v1::VersionedItem> items);

// Per shard request (same order as the writes), the first acknowledging
// ACTIVE or LEAVING replica's answer: that replica's view of the counts.
using WriteAcks = std::vector<std::pair<uint32_t, v1::ShardWriteResponse>>;

class WriteFanout {
 public:
  using Done = std::function<void(absl::StatusOr<WriteAcks>)>;
  // `level` is resolved (never UNSPECIFIED).
  static void Start(const RouterContext& ctx, const v1::CollectionPlacement& placement,
                    v1::ConsistencyLevel level, std::vector<ShardWrite> writes, Done done);
};

}  // namespace latentsearch::search::cluster

#endif  // LATENTSEARCH_SERVICES_SEARCH_CLUSTER_ROUTER_WRITE_H_

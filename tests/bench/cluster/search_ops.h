// The cluster benchmark's calls on a latentsearch.v1.Search endpoint (a
// standalone server or a router, which answer the same API): creating an
// L2-only collection, uploading a Dataset, snapshotting, waiting until the
// collection serves every item with complete HNSW graphs, and recall@k of
// HNSW against exact on the same queries.
//
// Why the upload leaves one dead slot (v0 written twice): HNSW graphs are
// built in the background while items arrive, each over the items present
// when it starts; the last one may cover most but not all items, and the
// rest is then searched exactly on every HNSW query until 10 % more items
// change (common/index/collection.h). That tail would differ between the
// configurations compared. With a dead slot no snapshot saves those
// partial graphs, so after Snapshot + a restart each process loads its
// items and builds each graph once over all of them (GraphsReady then
// checks that the graph covers every item).
//
// Thread-safety: functions are thread-safe when their stubs are (gRPC stubs
// are); waits poll Interrupted() and return CANCELLED when it is set.
#ifndef LATENTSEARCH_TESTS_BENCH_CLUSTER_SEARCH_OPS_H_
#define LATENTSEARCH_TESTS_BENCH_CLUSTER_SEARCH_OPS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "tests/bench/cluster/bench_data.h"

namespace latentsearch::bench {

// Sets a deadline `timeout` from now on `ctx`.
void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout);

// CreateCollection with metrics [L2] (one HNSW graph per shard), both index
// kinds, `shards` x `replication_factor` (1 x 1 on a standalone server).
// Retries UNAVAILABLE / FAILED_PRECONDITION for a minute (a router that does
// not see every node yet).
absl::Status CreateL2Collection(v1::Search::Stub* stub, const std::string& name, uint32_t dim,
                                uint32_t shards, uint32_t replication_factor);

// Upserts every item of `data` in batches of Dataset::kBatch, plus v0 a
// second time after the first batch (see above). Returns the seconds taken.
absl::StatusOr<double> Upload(v1::Search::Stub* stub, const std::string& name, const Dataset& data);

// Search.Snapshot of `name`.
absl::Status SnapshotCollection(v1::Search::Stub* stub, const std::string& name);

// `count` Search requests for rows of `vectors` (count x dim).
std::vector<v1::SearchRequest> MakeQueries(const std::string& name,
                                           const std::vector<float>& vectors, uint32_t dim,
                                           uint32_t count, v1::IndexKind kind, uint32_t k,
                                           uint32_t ef);

// Polls `check` every `every` until it returns true (OK), an error other
// than UNAVAILABLE-while-waiting comes back, `timeout` passes
// (DEADLINE_EXCEEDED naming `what` and the last state) or Interrupted().
// `check` may set *state to describe what it saw. Returns seconds waited.
absl::StatusOr<double> PollUntil(const std::string& what,
                                 const std::function<absl::StatusOr<bool>(std::string*)>& check,
                                 absl::Duration timeout, absl::Duration every);

// True when `name` holds `n` items, its L2 HNSW index is READY covering
// all of them and `probe` (an HNSW request) is not answered exactly. Errors
// while a replica catches up (UNAVAILABLE) count as false. Sets
// *build_seconds to the index's last build time (the slowest shard's).
absl::StatusOr<bool> GraphsReady(v1::Search::Stub* stub, const std::string& name, uint64_t n,
                                 const v1::SearchRequest& probe, std::string* state,
                                 double* build_seconds);

// Timings of PrepareCollection, seconds.
struct Prepared {
  double upload_seconds = 0;
  // From the restart until GraphsReady: loading the items and building
  // each HNSW graph once over all of them.
  double ready_seconds = 0;
  // The graph build alone (IndexStats.last_build_seconds; the slowest
  // shard's through a router).
  double build_seconds = 0;
};

// CreateL2Collection, Upload, SnapshotCollection, then `restart` (kills the
// processes holding the items and starts them again on the same data), then
// waits up to `timeout` for GraphsReady with an HNSW probe of `probe_vector`.
absl::StatusOr<Prepared> PrepareCollection(v1::Search::Stub* stub, const std::string& name,
                                           const Dataset& data, uint32_t shards,
                                           uint32_t replication_factor,
                                           const std::function<absl::Status()>& restart,
                                           absl::Duration timeout);

struct RecallResult {
  // Per query: the exact answer's ids, closest first.
  std::vector<std::vector<std::string>> exact_ids;
  // Mean |HNSW ids ∩ exact ids| / |exact ids| over the queries.
  double recall = 0;
};

// Exact and HNSW answers (k, ef as in the requests) for every query of
// `exact` and `hnsw` (the same vectors), through `stub`.
absl::StatusOr<RecallResult> MeasureRecall(v1::Search::Stub* stub,
                                           const std::vector<v1::SearchRequest>& exact,
                                           const std::vector<v1::SearchRequest>& hnsw);

// Fraction of queries whose ids equal `want`'s, position by position.
double SameIdsFraction(const RecallResult& got, const RecallResult& want);

}  // namespace latentsearch::bench

#endif  // LATENTSEARCH_TESTS_BENCH_CLUSTER_SEARCH_OPS_H_

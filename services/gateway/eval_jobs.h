// Evaluations of a collection's retrieval quality as asynchronous gateway
// jobs (POST /v1/evals), run by the eval driver in common/eval over the
// search service's gRPC API: precision@k, mAP and HNSW recall per metric
// and index kind, and the raw-pixel baseline when every item's image lies
// under --image_roots (else the rows are skipped and the job says why).
// Jobs live in memory only (the gateway keeps no state): the newest
// kKeptJobs are listed; one runs at a time.
// Thread-safety: thread-safe; each job runs on its own thread, joined by
// the destructor (which cancels nothing: an eval ends on its own).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_EVAL_JOBS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_EVAL_JOBS_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/eval/eval_driver.h"
#include "common/eval/search_backend.h"
#include "google/protobuf/struct.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::gateway {

class Backends;
class Thumbnailer;

// eval::SearchBackend over the search service's stub.
class GrpcEvalBackend final : public eval::SearchBackend {
 public:
  explicit GrpcEvalBackend(Backends* backends) : backends_(backends) {}
  absl::StatusOr<v1::CollectionInfo> GetCollection(const std::string& name) override;
  absl::StatusOr<std::vector<v1::Item>> ListAllItems(const std::string& name,
                                                     bool include_vectors) override;
  absl::Status WaitForIndexes(const std::string& name, double max_seconds) override;
  absl::StatusOr<v1::SearchBatchResponse> SearchBatch(
      const v1::SearchBatchRequest& request) override;

 private:
  Backends* const backends_;
};

class EvalJobs {
 public:
  static constexpr size_t kKeptJobs = 20;

  // Not owned; must outlive this object.
  EvalJobs(Backends* backends, Thumbnailer* images) : backends_(backends), images_(images) {}
  ~EvalJobs();

  // Starts an evaluation; answers its id ("eval-000001").
  // INVALID_ARGUMENT from eval::CheckEvalOptions or an empty collection;
  // UNAVAILABLE naming the running job when one runs.
  absl::StatusOr<std::string> Start(eval::EvalOptions options);

  // One job as JSON: {"id", "state": RUNNING|SUCCEEDED|FAILED, "options",
  // "progress", "error", "result": {..., "rows": [...]}}. NOT_FOUND for an
  // unknown id.
  absl::StatusOr<google::protobuf::Struct> Get(const std::string& id) const;
  // {"evals": [...]} newest first.
  google::protobuf::Struct List() const;

 private:
  struct Job;
  void Run(std::shared_ptr<Job> job);
  static google::protobuf::Struct ToStruct(const Job& job);

  Backends* const backends_;
  Thumbnailer* const images_;
  mutable absl::Mutex mu_;
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::shared_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);  // newest first
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

// JSON options of POST /v1/evals → EvalOptions: collection (required),
// queryCollection, queries, seed, k, mapDepth, metrics (names as in the
// Metric enum), indexKinds, ef, baseline. INVALID_ARGUMENT naming a field
// of the wrong type or an unknown one.
absl::StatusOr<eval::EvalOptions> EvalOptionsFromJson(const std::string& body);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_EVAL_JOBS_H_

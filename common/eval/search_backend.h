// The search-service calls the evaluation of a collection makes
// (eval_driver.h), as an interface: the CLI implements it over gRPC
// (clients/cli/grpc_search_backend.h), the HTTP gateway over its own
// client, tests with a fake. Errors are the service's statuses.
// Thread-safety: implementations are used from one thread at a time.
#ifndef LATENTSEARCH_COMMON_EVAL_SEARCH_BACKEND_H_
#define LATENTSEARCH_COMMON_EVAL_SEARCH_BACKEND_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "latentsearch/v1/search.pb.h"

namespace latentsearch::eval {

class SearchBackend {
 public:
  virtual ~SearchBackend() = default;

  // Search.GetCollection.
  virtual absl::StatusOr<v1::CollectionInfo> GetCollection(const std::string& name) = 0;
  // Every item of a collection (all ListItems pages), ascending by id.
  virtual absl::StatusOr<std::vector<v1::Item>> ListAllItems(const std::string& name,
                                                             bool include_vectors) = 0;
  // Returns once no HNSW index of the collection is building, or after
  // `max_seconds` (then OK anyway: HNSW answers stay correct).
  virtual absl::Status WaitForIndexes(const std::string& name, double max_seconds) = 0;
  // Search.SearchBatch: one result per query, in order.
  virtual absl::StatusOr<v1::SearchBatchResponse> SearchBatch(
      const v1::SearchBatchRequest& request) = 0;
};

}  // namespace latentsearch::eval

#endif  // LATENTSEARCH_COMMON_EVAL_SEARCH_BACKEND_H_

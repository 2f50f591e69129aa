// The evaluation's search backend (common/eval/search_backend.h) over the
// search service's gRPC API: every error is an RpcError (endpoint.h)
// naming the service. Flag-free.
// Thread-safety: thread-safe (stubs are made per call over the endpoint's
// thread-safe channel).
#ifndef LATENTSEARCH_CLIENTS_CLI_GRPC_SEARCH_BACKEND_H_
#define LATENTSEARCH_CLIENTS_CLI_GRPC_SEARCH_BACKEND_H_

#include <string>
#include <vector>

#include "clients/cli/endpoint.h"
#include "common/eval/search_backend.h"

namespace latentsearch::cli {

class GrpcSearchBackend final : public eval::SearchBackend {
 public:
  // `search` must outlive the backend.
  explicit GrpcSearchBackend(const Endpoint& search) : search_(search) {}

  absl::StatusOr<v1::CollectionInfo> GetCollection(const std::string& name) override;
  absl::StatusOr<std::vector<v1::Item>> ListAllItems(const std::string& name,
                                                     bool include_vectors) override;
  absl::Status WaitForIndexes(const std::string& name, double max_seconds) override;
  absl::StatusOr<v1::SearchBatchResponse> SearchBatch(
      const v1::SearchBatchRequest& request) override;

 private:
  const Endpoint& search_;
};

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_GRPC_SEARCH_BACKEND_H_

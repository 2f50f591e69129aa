#include "clients/cli/grpc_search_backend.h"

#include "clients/cli/service_calls.h"
#include "common/base/status_macros.h"
#include "latentsearch/v1/search.grpc.pb.h"

namespace latentsearch::cli {

absl::StatusOr<v1::CollectionInfo> GrpcSearchBackend::GetCollection(const std::string& name) {
  return cli::GetCollection(search_, name);
}

absl::StatusOr<std::vector<v1::Item>> GrpcSearchBackend::ListAllItems(const std::string& name,
                                                                      bool include_vectors) {
  return cli::ListAllItems(search_, name, include_vectors);
}

absl::Status GrpcSearchBackend::WaitForIndexes(const std::string& name, double max_seconds) {
  return cli::WaitForIndexes(search_, name, max_seconds, nullptr);
}

absl::StatusOr<v1::SearchBatchResponse> GrpcSearchBackend::SearchBatch(
    const v1::SearchBatchRequest& request) {
  auto stub = v1::Search::NewStub(search_.channel);
  grpc::ClientContext ctx;
  SetDeadline(search_, &ctx);
  v1::SearchBatchResponse resp;
  LS_RETURN_IF_ERROR(RpcError(search_, stub->SearchBatch(&ctx, request, &resp)));
  return resp;
}

}  // namespace latentsearch::cli

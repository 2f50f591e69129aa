// Small wrappers over the RPCs several subcommands share. Every error is an
// RpcError (endpoint.h) naming the service. Flag-free.
// Thread-safety: thread-safe (stubs are made per call over the endpoint's
// thread-safe channel).
#ifndef LATENTSEARCH_CLIENTS_CLI_SERVICE_CALLS_H_
#define LATENTSEARCH_CLIENTS_CLI_SERVICE_CALLS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/cli/endpoint.h"
#include "latentsearch/v1/encoder.pb.h"
#include "latentsearch/v1/search.pb.h"

namespace latentsearch::cli {

// Search.GetCollection.
absl::StatusOr<v1::CollectionInfo> GetCollection(const Endpoint& search, const std::string& name);

// Every item of a collection (Search.ListItems, all pages), ascending by id.
absl::StatusOr<std::vector<v1::Item>> ListAllItems(const Endpoint& search, const std::string& name,
                                                   bool include_vectors);

// The metadata of model `name` ("" = "default") at `version` (0 = the
// newest) as the encoder holds it. NOT_FOUND (not an RpcError: the encoder
// answered) naming the versions held when it holds no such model.
absl::StatusOr<v1::CheckpointMetadata> EncoderModel(const Endpoint& encoder,
                                                    const std::string& name, uint64_t version);

// Polls GetCollection until no HNSW index is BUILDING, or until
// `max_seconds` pass (then returns OK anyway: HNSW answers stay correct,
// partly exact). STALE is not waited for: the service rebuilds only after
// enough changes (1,000 or 10 %), and answers the unindexed rest exactly.
// `tick` (may be empty) is told each poll.
absl::Status WaitForIndexes(const Endpoint& search, const std::string& name, double max_seconds,
                            const std::function<void(const v1::CollectionInfo&)>& tick);

// The newest collection holding vectors of model `model_name` (highest
// version, then name); NOT_FOUND when none does.
absl::StatusOr<v1::CollectionInfo> NewestCollectionOf(const Endpoint& search,
                                                      const std::string& model_name);

// "<model>-v<version>", the default collection name for a model version.
std::string DefaultCollectionName(const v1::ModelRef& model);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_SERVICE_CALLS_H_

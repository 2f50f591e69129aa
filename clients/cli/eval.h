// `latentsearch eval`: the retrieval quality of a labelled collection
// (common/eval/eval_driver.h, where the measures are defined) through the
// search service, printed as a table or as JSON; `report` shows the same.
// Flag-free apart from the subcommand.
// Thread-safety: functions are thread-compatible (RunEval uses `resolver`).
#ifndef LATENTSEARCH_CLIENTS_CLI_EVAL_H_
#define LATENTSEARCH_CLIENTS_CLI_EVAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "clients/cli/command.h"
#include "clients/cli/endpoint.h"
#include "common/eval/eval_driver.h"
#include "common/eval/eval_result.h"
#include "common/items/image_resolver.h"

namespace latentsearch::cli {

// eval::RunEval over the search service at `search` (GrpcSearchBackend).
absl::StatusOr<eval::EvalResult> RunEval(const Endpoint& search, const eval::EvalOptions& options,
                                         items::ImageResolver* resolver);

// An aligned text table with a header line naming collection, model,
// queries and seed.
std::string EvalTable(const eval::EvalResult& result);

// {"collection":..., "query_collection":..., "model":{"name":..,"version":..},
//  "items":.., "dim":.., "queries":.., "seed":.., "k":.., "map_depth":..,
//  "seconds":.., "baseline_note":.. (when set), "rows":[{"source":..,
//  "metric":"l2", "index":"exact", "precision_at_k":..,
//  "precision_at_k_including_self":.., "map":.., "recall_vs_exact":..
//  (HNSW rows measured against exact), "exact_fallbacks":.. (HNSW rows)}]}
std::string EvalJson(const eval::EvalResult& result);

// The `eval` subcommand.
Command EvalCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_EVAL_H_

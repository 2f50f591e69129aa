// Flags that name a data set, shared by every subcommand that loads one
// (data-info now; train and ingest later).
#ifndef LATENTSEARCH_CLIENTS_CLI_DATASET_FLAGS_H_
#define LATENTSEARCH_CLIENTS_CLI_DATASET_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/load.h"

namespace latentsearch::cli {

// Names of the data set flags, for Command::flags.
std::vector<std::string> DatasetFlagNames();

// The DatasetSpec the flags describe; INVALID_ARGUMENT (a usage error) for a
// missing --dataset or --path or a value out of range.
absl::StatusOr<data::DatasetSpec> DatasetSpecFromFlags();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_DATASET_FLAGS_H_

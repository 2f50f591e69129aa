// The table of `latentsearch` subcommands (command.h defines a Command and
// dispatches to it). Thread-safety: Commands() is thread-safe.
#ifndef LATENTSEARCH_CLIENTS_CLI_COMMAND_TABLE_H_
#define LATENTSEARCH_CLIENTS_CLI_COMMAND_TABLE_H_

#include <vector>

#include "clients/cli/command.h"

namespace latentsearch::cli {

// Every subcommand, in the order --help lists them: data-info, train, watch,
// stop, jobs, ingest, query, eval, report, bench, fetch-cifar10.
std::vector<Command> Commands();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_COMMAND_TABLE_H_

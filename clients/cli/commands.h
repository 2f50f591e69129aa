// The table of `latentsearch` subcommands.
#ifndef LATENTSEARCH_CLIENTS_CLI_COMMANDS_H_
#define LATENTSEARCH_CLIENTS_CLI_COMMANDS_H_

#include <vector>

#include "clients/cli/command.h"

namespace latentsearch::cli {

// Every subcommand, in the order --help lists them. Planned: train, watch,
// ingest, query, eval, report, bench, fetch-cifar10.
std::vector<Command> Commands();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_COMMANDS_H_

// latentsearch: the command-line client. See clients/cli/command.h for the
// subcommand structure and exit codes, `latentsearch --help` for the list.
#include <iostream>

#include "clients/cli/command.h"
#include "clients/cli/command_table.h"

int main(int argc, char** argv) {
  return latentsearch::cli::Main(argc, argv, latentsearch::cli::Commands(), std::cout, std::cerr);
}

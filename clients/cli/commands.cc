#include "clients/cli/commands.h"

#include "clients/cli/bench.h"
#include "clients/cli/data_info.h"

namespace latentsearch::cli {

std::vector<Command> Commands() { return {DataInfoCommand(), BenchCommand()}; }

}  // namespace latentsearch::cli

#include "clients/cli/command_table.h"

#include "clients/cli/bench.h"
#include "clients/cli/cluster.h"
#include "clients/cli/data_info.h"
#include "clients/cli/eval.h"
#include "clients/cli/fetch.h"
#include "clients/cli/ingest.h"
#include "clients/cli/query.h"
#include "clients/cli/report.h"
#include "clients/cli/train.h"

namespace latentsearch::cli {

std::vector<Command> Commands() {
  return {DataInfoCommand(), TrainCommand(),   WatchCommand(),       StopCommand(), ResumeCommand(),
          JobsCommand(),     IngestCommand(),  QueryCommand(),       EvalCommand(), ReportCommand(),
          BenchCommand(),    ClusterCommand(), FetchCifar10Command()};
}

}  // namespace latentsearch::cli

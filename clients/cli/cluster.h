// `latentsearch cluster status|rebalance`: the search cluster's admin API
// (latentsearch.v1.Cluster on a router, --search_address), docs/cluster.md.
// Thread-compatible; called from the CLI's main thread.
#ifndef LATENTSEARCH_CLIENTS_CLI_CLUSTER_H_
#define LATENTSEARCH_CLIENTS_CLI_CLUSTER_H_

#include <ostream>

#include "clients/cli/command.h"
#include "latentsearch/v1/cluster.pb.h"

namespace latentsearch::cli {

Command ClusterCommand();

// The status as a table: nodes, then per collection one line per replica.
void PrintClusterStatus(const v1::ClusterStatusResponse& status, std::ostream& out);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_CLUSTER_H_

// `latentsearch bench`: a gRPC load generator against a running search
// service. Optionally fills a collection with random (or clustered) vectors
// first, then measures Search latency and QPS at several concurrencies next
// to a no-op RPC on the same server (the gRPC health Check), so the table
// shows what the search itself costs.
#ifndef LATENTSEARCH_CLIENTS_CLI_BENCH_H_
#define LATENTSEARCH_CLIENTS_CLI_BENCH_H_

#include "clients/cli/command.h"

namespace latentsearch::cli {

Command BenchCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_BENCH_H_

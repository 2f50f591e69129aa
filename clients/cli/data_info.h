// `latentsearch data-info`: loads a data set, prints its source, size, shape
// and per-class counts, and optionally writes a PNG grid of seeded random
// samples captioned with their class names.
#ifndef LATENTSEARCH_CLIENTS_CLI_DATA_INFO_H_
#define LATENTSEARCH_CLIENTS_CLI_DATA_INFO_H_

#include "clients/cli/command.h"

namespace latentsearch::cli {

Command DataInfoCommand();

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_DATA_INFO_H_

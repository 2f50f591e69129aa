// How the CLI writes a model reference (v1::ModelRef) in its text and
// --json output: one form for every subcommand.
// Thread-safety: pure functions (ModelJson writes to the caller's writer).
#ifndef LATENTSEARCH_CLIENTS_CLI_MODEL_REF_H_
#define LATENTSEARCH_CLIENTS_CLI_MODEL_REF_H_

#include <string>

#include "clients/cli/json.h"
#include "latentsearch/v1/common.pb.h"

namespace latentsearch::cli {

// "<name> v<version>", "default" for an empty name: "default v3".
std::string ModelText(const v1::ModelRef& model);

// {"name":"<name>","version":<version>} as the next value of `w` (the name
// as stored, "" kept).
void ModelJson(const v1::ModelRef& model, JsonWriter* w);

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_CLIENTS_CLI_MODEL_REF_H_

// JSON string literals: the one escaping used by the CLI's JSON writer
// (clients/cli/json.h) and the gateway's hand-written bodies
// (services/gateway/http_errors.h).
// Thread-safety: pure function.
#ifndef LATENTSEARCH_COMMON_BASE_JSON_QUOTE_H_
#define LATENTSEARCH_COMMON_BASE_JSON_QUOTE_H_

#include <string>

#include "absl/strings/string_view.h"

namespace latentsearch::base {

// `text` as a JSON string literal, quotes included: `"` and `\` escaped,
// \n \r \t by name, other control characters as \u00XX; everything else
// (UTF-8 included) passed through byte for byte.
std::string JsonQuote(absl::string_view text);

}  // namespace latentsearch::base

#endif  // LATENTSEARCH_COMMON_BASE_JSON_QUOTE_H_

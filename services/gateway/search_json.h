// A hand-written JSON path for the gateway's hottest route, search by
// vector: SearchRequest from JSON and SearchResponse to JSON, byte for byte
// what protobuf's JSON mapping gives (json_mapping.h: JsonStringToMessage;
// MessageToJsonString with always_print_primitive_fields), in a few
// microseconds where protobuf 3.21's converter takes tens
// (docs/benchmarks.md "Gateway").
//
// Each function handles a strict subset and answers false on anything else,
// leaving its output untouched; the caller then takes protobuf's generic
// path, which also produces every error message. Outside the subset:
// strings with escapes, control or non-ASCII characters; null; numbers
// whose conversion needs protobuf's own range rules (a float beyond
// ±FLT_MAX, an integer-form float of more than 15 digits, a negative or
// fractional value for an unsigned field); enums given by number; unknown or
// repeated keys; both members of the `query` oneof; trailing text; messages
// carrying unknown fields. Both functions also answer false for every input
// when the generated messages no longer have exactly the fields this file
// was written for (FastSearchJsonEnabled), so a .proto change can slow the
// route down but never change its bytes.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_SEARCH_JSON_H_
#define LATENTSEARCH_SERVICES_GATEWAY_SEARCH_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "latentsearch/v1/search.pb.h"

namespace latentsearch::gateway {

// Parses JSON `body` into `*message`, which must be empty (as
// JsonStringToMessage would); false = not handled here (also for a
// non-empty `*message`), `*message` unchanged.
bool MergeSearchRequestJson(absl::string_view body, v1::SearchRequest* message);

// Appends `response` as JSON to `*out`; false = not handled here, `*out`
// unchanged.
bool AppendSearchResponseJson(const v1::SearchResponse& response, std::string* out);

// Whether the descriptors of SearchRequest, Vector, SearchResponse, Neighbor
// and ModelRef are the ones this path was written for (checked once).
bool FastSearchJsonEnabled();

// protobuf's SimpleFtoa (shortest of "%.6g" and "%.9g" that reads back),
// the float text of its JSON mapping, without snprintf for normal numbers.
// `value` must be finite.
void AppendJsonFloat(float value, std::string* out);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_SEARCH_JSON_H_

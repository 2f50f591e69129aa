// Requests and responses through protobuf's JSON mapping
// (JsonStringToMessage / MessageToJsonString): bytes travel as base64,
// 64-bit integers as strings, enums by name, Timestamps as RFC 3339; field
// names are lowerCamelCase on output and either form on input. Path and
// query parameters set fields by their proto name, dotted for nested
// messages ("model.name", "model.version"); repeated fields take the
// parameter repeated or comma-separated ("labels=1,2"). SearchRequest and
// SearchResponse take a hand-written path with the same bytes
// (search_json.h) and fall back to protobuf's on anything unusual.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_JSON_MAPPING_H_
#define LATENTSEARCH_SERVICES_GATEWAY_JSON_MAPPING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace latentsearch::gateway {

// Merges JSON `body` into `message`. INVALID_ARGUMENT with the parser's
// message (unknown field, wrong type, bad base64).
absl::Status MergeJson(absl::string_view body, google::protobuf::Message* message);

// `message` as JSON, every field present (zeros and empty lists included,
// so a distance of 0 is printed).
std::string ToJson(const google::protobuf::Message& message);

// Sets the field at `path` ("k", "model.version", "labels") from text
// values. INVALID_ARGUMENT naming the parameter for an unknown field, a
// value that does not parse as the field's type, several values for a
// singular field, or a path through a repeated field.
absl::Status SetField(google::protobuf::Message* message, absl::string_view path,
                      const std::vector<std::string>& values);

// Whether `path` names a field of `descriptor` (as SetField would accept).
bool HasFieldPath(const google::protobuf::Descriptor* descriptor, absl::string_view path);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_JSON_MAPPING_H_

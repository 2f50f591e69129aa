// The gateway's one table from gRPC status codes to HTTP statuses, and the
// JSON body every failed request answers:
//   {"error": {"code": "NOT_FOUND", "http_status": 404,
//              "message": "collection 'x' not found", "service": "search"}}
// `code` is the gRPC code name (also for errors the gateway finds itself,
// e.g. INVALID_ARGUMENT for a bad query parameter), `service` names the
// backend that answered ("gateway" when none was called).
// The mapping follows google.rpc / grpc-gateway: INVALID_ARGUMENT,
// FAILED_PRECONDITION, OUT_OF_RANGE 400; UNAUTHENTICATED 401;
// PERMISSION_DENIED 403; NOT_FOUND 404; ALREADY_EXISTS, ABORTED 409;
// RESOURCE_EXHAUSTED 429 (413 for an upload over --max_upload_bytes);
// CANCELLED 499; UNIMPLEMENTED 501; UNAVAILABLE 503; DEADLINE_EXCEEDED
// 504; UNKNOWN, INTERNAL, DATA_LOSS 500.
// Thread-safety: pure functions.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_HTTP_ERRORS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_HTTP_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace latentsearch::gateway {

// "NOT_FOUND", "INVALID_ARGUMENT", ... (the gRPC names; "OK" for OK).
std::string CodeName(absl::StatusCode code);

// The HTTP status for `code` (table above; 200 for OK).
int HttpStatusFor(absl::StatusCode code);

// The error body above. `http_status` 0 = HttpStatusFor(status.code()).
std::string ErrorJson(const absl::Status& status, absl::string_view service, int http_status = 0);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_HTTP_ERRORS_H_

// The OpenAPI 3.0 document of the gateway (GET /v1/openapi.json),
// generated from the route table (routes.h) and the protos' descriptors:
// one path item per route with its operationId, gRPC method
// (x-grpc-method), path and query parameters, request body and responses;
// one schema per message reached, following protobuf's JSON mapping
// (lowerCamelCase names, 64-bit integers and bytes as strings, enums by
// name, Timestamps as date-time strings).
// Thread-safety: pure (the document is built once and cached).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_OPENAPI_H_
#define LATENTSEARCH_SERVICES_GATEWAY_OPENAPI_H_

#include <string>

namespace latentsearch::gateway {

// The document as JSON.
const std::string& OpenApiJson();

// The OpenAPI form of a route's path: "{model.name}" stays, the rest as is.
std::string OpenApiPath(const char* path);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_OPENAPI_H_

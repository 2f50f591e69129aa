// The gateway's route table, in one place: every HTTP route with its
// method, path template, the gRPC method it maps to (or none for the
// gateway's own routes), request and response messages, body and response
// kinds, whether it needs a token, and its handler. The dispatcher
// (gateway_server.cc), the OpenAPI document (openapi.h) and the contract
// tests all read this table.
//
// Path templates: literal segments, "{field}" (a request field by its proto
// name, dotted for nested ones, matching one segment without '/' or ':')
// and Google-style custom verbs after ':' ("/v1/collections/{collection}:search").
// Every RPC of latentsearch.v1.Trainer, Encoder and Search has a route
// except Encoder.PushCheckpoint (checkpoints reach encoders from the
// trainer or its --push_file).
// Thread-safety: the table is built once and immutable.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_ROUTES_H_
#define LATENTSEARCH_SERVICES_GATEWAY_ROUTES_H_

#include <map>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace latentsearch::gateway {

struct GatewayContext;
struct Route;

// Runs one request of `route`; path parameters in `params`. Writes the
// response (status, body, headers) to `res`; errors as http_errors.h.
using Handler = void (*)(const Route& route, GatewayContext& ctx,
                         const std::map<std::string, std::string>& params,
                         const httplib::Request& req, httplib::Response& res);

enum class Backend { kGateway, kTrainer, kEncoder, kSearch };
// "gateway", "trainer", "encoder", "search".
const char* BackendName(Backend backend);

// What the request carries besides path and query parameters.
enum class Body {
  kNone,         // nothing (GET, DELETE)
  kJson,         // the request message as JSON
  kJsonOrImage,  // JSON, or image upload(s): multipart/form-data file parts
                 // or a raw image/* / application/octet-stream body, set
                 // into `upload_field`; other fields from the query string
};

// What the response is.
enum class Reply { kJson, kPng, kEventStream, kOctetStream, kHtml };

struct Route {
  const char* method;     // "GET", "POST", "DELETE"
  const char* path;       // template, see above
  const char* operation;  // OpenAPI operationId, "Search.Search", "Gateway.Thumbnail"
  Backend backend;
  const char* rpc;      // "latentsearch.v1.Search/Search"; "" = the gateway's own
  const char* summary;  // one line for the OpenAPI document
  // Request message (path/query/body fields); nullptr = none or free-form.
  const google::protobuf::Descriptor* request;
  // Response message (kJson; the event message for kEventStream);
  // nullptr = free-form JSON.
  const google::protobuf::Descriptor* response;
  Body body;
  const char* upload_field;  // kJsonOrImage: "image" (one) or "images" (repeated)
  Reply reply;
  bool open;  // served without a token (probes, sign-in, the console's files)
  Handler handler;
};

// The table, in the order the OpenAPI document lists it.
const std::vector<Route>& Routes();

// A route found for a request, with its path parameters (URL-decoded).
struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
  // True when some route has this path but not this method (405).
  bool other_method = false;
};

// Finds the route for `method` and `path` (without the query string);
// route == nullptr when none matches. Static console files are matched by
// the catch-all GET route last.
RouteMatch MatchRoute(const std::string& method, const std::string& path);

// The path template's parameter names, in order.
std::vector<std::string> PathParams(const Route& route);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_ROUTES_H_

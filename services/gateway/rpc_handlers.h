// Route handlers that call the backends' RPCs: one generic handler for
// every unary RPC (request from path, query and body through the JSON
// mapping; the response message as JSON), and the streaming ones:
// Search.Upsert (a JSON body sent as a client stream in batches),
// Trainer.WatchTraining (server-sent events: "id: <sequence>", "event:
// step|epoch|checkpoint|push|state", "data: <TrainingEvent JSON>"; a final
// "end" or "error" event; Last-Event-ID resumes after that sequence) and
// Trainer.DownloadCheckpoint (the checkpoint's bytes,
// application/octet-stream, metadata in X-Checkpoint-* headers).
// Thread-safety: handlers are reentrant (state lives in GatewayContext).
#ifndef LATENTSEARCH_SERVICES_GATEWAY_RPC_HANDLERS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_RPC_HANDLERS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "services/gateway/gateway_context.h"
#include "services/gateway/routes.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace latentsearch::gateway {

using Params = std::map<std::string, std::string>;

// Fills `message` from the request: the JSON body (or image uploads for
// Body::kJsonOrImage), then query parameters, then path parameters.
// INVALID_ARGUMENT naming what is wrong (bad JSON, unknown parameter, an
// upload that is not a PNG or JPEG image).
absl::Status ParseRequest(const Route& route, const GatewayContext& ctx, const Params& params,
                          const httplib::Request& req, google::protobuf::Message* message);

// Writes `message` as JSON with status 200.
void WriteJson(httplib::Response& res, const google::protobuf::Message& message);
// Writes the error JSON (http_errors.h) for `status` from `service`.
void WriteError(httplib::Response& res, const absl::Status& status, const char* service,
                int http_status = 0);
// The same for a backend's gRPC status.
void WriteRpcError(httplib::Response& res, const grpc::Status& status, Backend backend);

// Deduces a stub method's request and response types.
template <typename T>
struct MethodTraits;
template <typename Stub, typename Req, typename Resp>
struct MethodTraits<grpc::Status (Stub::*)(grpc::ClientContext*, const Req&, Resp*)> {
  using Request = Req;
  using Response = Resp;
};

// The generic unary handler: `Getter` picks the stub from Backends,
// `Method` is the stub's synchronous method.
template <auto Getter, auto Method>
void UnaryRoute(const Route& route, GatewayContext& ctx, const Params& params,
                const httplib::Request& req, httplib::Response& res) {
  using Traits = MethodTraits<decltype(Method)>;
  typename Traits::Request request;
  if (absl::Status s = ParseRequest(route, ctx, params, req, &request); !s.ok()) {
    return WriteError(res, s, "gateway");
  }
  typename Traits::Response response;
  grpc::ClientContext context;
  ctx.backends->SetDeadline(&context);
  const grpc::Status status = ((ctx.backends->*Getter)()->*Method)(&context, request, &response);
  if (!status.ok()) return WriteRpcError(res, status, route.backend);
  WriteJson(res, response);
}

void UpsertRoute(const Route& route, GatewayContext& ctx, const Params& params,
                 const httplib::Request& req, httplib::Response& res);
void WatchTrainingRoute(const Route& route, GatewayContext& ctx, const Params& params,
                        const httplib::Request& req, httplib::Response& res);
void DownloadCheckpointRoute(const Route& route, GatewayContext& ctx, const Params& params,
                             const httplib::Request& req, httplib::Response& res);

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_RPC_HANDLERS_H_

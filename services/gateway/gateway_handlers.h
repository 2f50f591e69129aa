// The gateway's own routes (no RPC of their own, or several):
//   GET /healthz                  liveness: 200 {"status": "ok"}
//   GET /readyz                   200 when every backend answers its health
//                                 check, else 503 naming the ones down
//   GET /v1/openapi.json          the OpenAPI document (openapi.h)
//   GET/POST/DELETE /v1/session   console sign-in state / sign in / out
//   GET /v1/thumbnails?uri=&size= an item's image as PNG (thumbnails.h)
//   POST /v1/models/{model.name}:preview  an upload as the model sees it
//                                 (channels and size of its input; PNG)
//   POST/GET /v1/evals[/{id}]     evaluation jobs (eval_jobs.h)
//   GET /...                      the console's static files
// Thread-safety: handlers are reentrant.
#ifndef LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_HANDLERS_H_
#define LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_HANDLERS_H_

#include "services/gateway/rpc_handlers.h"

namespace latentsearch::gateway {

#define LS_GATEWAY_HANDLER(name)                                           \
  void name(const Route& route, GatewayContext& ctx, const Params& params, \
            const httplib::Request& req, httplib::Response& res)

LS_GATEWAY_HANDLER(HealthzRoute);
LS_GATEWAY_HANDLER(ReadyzRoute);
LS_GATEWAY_HANDLER(OpenApiRoute);
LS_GATEWAY_HANDLER(SessionGetRoute);
LS_GATEWAY_HANDLER(SessionCreateRoute);
LS_GATEWAY_HANDLER(SessionDeleteRoute);
LS_GATEWAY_HANDLER(ThumbnailRoute);
LS_GATEWAY_HANDLER(PreviewRoute);
LS_GATEWAY_HANDLER(EvalStartRoute);
LS_GATEWAY_HANDLER(EvalListRoute);
LS_GATEWAY_HANDLER(EvalGetRoute);
LS_GATEWAY_HANDLER(ConsoleFileRoute);

#undef LS_GATEWAY_HANDLER

}  // namespace latentsearch::gateway

#endif  // LATENTSEARCH_SERVICES_GATEWAY_GATEWAY_HANDLERS_H_

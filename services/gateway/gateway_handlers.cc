#include "services/gateway/gateway_handlers.h"

#include <climits>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/file.h"
#include "common/base/json_quote.h"
#include "common/base/status_macros.h"
#include "common/image/image.h"
#include "common/image/preprocess.h"
#include "common/rpc/status_util.h"
#include "google/protobuf/struct.pb.h"
#include "httplib.h"
#include "services/gateway/eval_jobs.h"
#include "services/gateway/http_errors.h"
#include "services/gateway/json_mapping.h"
#include "services/gateway/openapi.h"

namespace latentsearch::gateway {
namespace {

void WriteRaw(httplib::Response& res, int status, const std::string& body,
              const char* content_type) {
  res.status = status;
  res.set_content(body, content_type);
}

const char* ContentTypeOf(const std::string& path) {
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".svg")) return "image/svg+xml";
  if (absl::EndsWith(path, ".png")) return "image/png";
  if (absl::EndsWith(path, ".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace

void HealthzRoute(const Route&, GatewayContext&, const Params&, const httplib::Request&,
                  httplib::Response& res) {
  WriteRaw(res, 200, "{\"status\":\"ok\"}", "application/json");
}

void ReadyzRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request&,
                 httplib::Response& res) {
  std::vector<BackendHealth> health = ctx.backends->CheckHealth(absl::Seconds(2));
  std::vector<std::string> down;
  std::string backends;
  for (const BackendHealth& h : health) {
    if (!h.ready) down.push_back(absl::StrCat(h.service, " at ", h.address, ": ", h.detail));
    absl::StrAppend(&backends, backends.empty() ? "" : ",", base::JsonQuote(h.service),
                    ":{\"address\":", base::JsonQuote(h.address),
                    ",\"ready\":", h.ready ? "true" : "false",
                    ",\"detail\":", base::JsonQuote(h.detail), "}");
  }
  std::string down_json;
  for (const BackendHealth& h : health) {
    if (!h.ready)
      absl::StrAppend(&down_json, down_json.empty() ? "" : ",", base::JsonQuote(h.service));
  }
  const bool ready = down.empty();
  std::string body = absl::StrCat("{\"status\":", ready ? "\"ready\"" : "\"not ready\"",
                                  ",\"down\":[", down_json, "],\"backends\":{", backends, "}");
  if (!ready) {
    absl::StrAppend(&body, ",\"message\":",
                    base::JsonQuote(absl::StrCat("backend down: ", absl::StrJoin(down, "; "))));
  }
  absl::StrAppend(&body, "}");
  WriteRaw(res, ready ? 200 : 503, body, "application/json");
}

void OpenApiRoute(const Route&, GatewayContext&, const Params&, const httplib::Request&,
                  httplib::Response& res) {
  WriteRaw(res, 200, OpenApiJson(), "application/json");
}

void SessionGetRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request& req,
                     httplib::Response& res) {
  const absl::Status s = ctx.auth->Check(req.get_header_value("Authorization"),
                                         req.get_header_value("Cookie"), req.remote_addr);
  WriteRaw(res, 200,
           absl::StrCat("{\"authRequired\":", ctx.auth->enabled() ? "true" : "false",
                        ",\"signedIn\":", s.ok() ? "true" : "false", "}"),
           "application/json");
}

void SessionCreateRoute(const Route&, GatewayContext& ctx, const Params&,
                        const httplib::Request& req, httplib::Response& res) {
  google::protobuf::Struct body;
  std::string token;
  if (google::protobuf::util::JsonStringToMessage(req.body, &body).ok() &&
      body.fields().count("token") != 0) {
    token = body.fields().at("token").string_value();
  }
  if (token.empty()) {
    return WriteError(res, absl::InvalidArgumentError("send {\"token\": \"TOKEN\"} to sign in"),
                      "gateway");
  }
  if (!ctx.auth->enabled()) {
    return WriteRaw(res, 200, "{\"authRequired\":false,\"signedIn\":true}", "application/json");
  }
  absl::Status s = ctx.auth->Check("Bearer " + token, "", req.remote_addr);
  if (!s.ok()) return WriteError(res, s, "gateway");
  res.set_header("Set-Cookie", ctx.auth->SessionCookie(token));
  WriteRaw(res, 200, "{\"authRequired\":true,\"signedIn\":true}", "application/json");
}

void SessionDeleteRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request&,
                        httplib::Response& res) {
  res.set_header("Set-Cookie", ctx.auth->ClearedCookie());
  WriteRaw(res, 200, "{\"signedIn\":false}", "application/json");
}

void ThumbnailRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request& req,
                    httplib::Response& res) {
  const std::string uri = req.get_param_value("uri");
  if (uri.empty()) {
    return WriteError(res, absl::InvalidArgumentError("give the item's uri: ?uri=URI[&size=N]"),
                      "gateway");
  }
  int size = 96;
  if (req.has_param("size") && !absl::SimpleAtoi(req.get_param_value("size"), &size)) {
    return WriteError(res, absl::InvalidArgumentError("size must be an integer"), "gateway");
  }
  absl::StatusOr<std::shared_ptr<const std::string>> png = ctx.thumbnails->Png(uri, size);
  if (!png.ok()) return WriteError(res, png.status(), "gateway");
  res.set_header("Cache-Control", "private, max-age=3600");
  WriteRaw(res, 200, **png, "image/png");
}

// The model's input (shape and normalisation) from ListModels: the version
// asked, else the newest.
absl::StatusOr<image::InputSpec> InputSpecOf(GatewayContext& ctx, const v1::ModelRef& model) {
  v1::ListModelsRequest request;
  request.set_name(model.name().empty() ? "default" : model.name());
  v1::ListModelsResponse response;
  grpc::ClientContext context;
  ctx.backends->SetDeadline(&context);
  grpc::Status s = ctx.backends->encoder()->ListModels(&context, request, &response);
  if (!s.ok()) return rpc::FromGrpcStatus(s);
  for (const v1::ModelInfo& m : response.models()) {
    const v1::CheckpointMetadata& md = m.metadata();
    if (model.version() == 0 ? m.newest() : md.model().version() == model.version()) {
      image::Normalization n;
      if (md.normalization().scale() != 0) n.scale = md.normalization().scale();
      n.mean.assign(md.normalization().mean().begin(), md.normalization().mean().end());
      n.std.assign(md.normalization().std().begin(), md.normalization().std().end());
      return image::InputSpec(static_cast<int>(md.input_shape().height()),
                              static_cast<int>(md.input_shape().width()),
                              static_cast<int>(md.input_shape().channels()), std::move(n));
    }
  }
  return absl::NotFoundError(
      absl::StrCat("the encoder holds no model '", request.name(), "'",
                   model.version() ? absl::StrCat(" v", model.version()) : std::string()));
}

// The upload as the encoder sees it: common/image's preprocessing
// (channels, size, normalisation: ToModelInput), then back to pixels
// (ToPixels), as PNG.
absl::StatusOr<std::string> AsTheModelSeesIt(const std::string& bytes,
                                             const image::InputSpec& spec) {
  LS_ASSIGN_OR_RETURN(image::Image img, image::Decode(bytes));
  std::vector<float> input(spec.floats_per_image());
  LS_RETURN_IF_ERROR(image::ToModelInput(std::move(img), spec, absl::MakeSpan(input)));
  image::Image seen(spec.height, spec.width, spec.channels);
  image::ToPixels(input, spec, absl::MakeSpan(seen.pixels));
  return image::EncodePng(seen);
}

void PreviewRoute(const Route& route, GatewayContext& ctx, const Params& params,
                  const httplib::Request& req, httplib::Response& res) {
  v1::ReconstructRequest request;
  if (absl::Status s = ParseRequest(route, ctx, params, req, &request); !s.ok()) {
    return WriteError(res, s, "gateway");
  }
  if (request.images_size() != 1 || request.images(0).encoded().empty()) {
    return WriteError(res, absl::InvalidArgumentError("send one encoded image (PNG or JPEG)"),
                      "gateway");
  }
  absl::StatusOr<image::InputSpec> spec = InputSpecOf(ctx, request.model());
  if (!spec.ok()) return WriteError(res, spec.status(), "encoder");
  absl::StatusOr<std::string> png = AsTheModelSeesIt(request.images(0).encoded(), *spec);
  if (!png.ok()) return WriteError(res, png.status(), "gateway");
  WriteRaw(res, 200, *png, "image/png");
}

void EvalStartRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request& req,
                    httplib::Response& res) {
  absl::StatusOr<eval::EvalOptions> options = EvalOptionsFromJson(req.body);
  if (!options.ok()) return WriteError(res, options.status(), "gateway");
  absl::StatusOr<std::string> id = ctx.evals->Start(*std::move(options));
  if (!id.ok()) return WriteError(res, id.status(), "gateway");
  res.set_header("Location", absl::StrCat("/v1/evals/", *id));
  WriteRaw(res, 202, absl::StrCat("{\"id\":", base::JsonQuote(*id), ",\"state\":\"RUNNING\"}"),
           "application/json");
}

void EvalListRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request&,
                   httplib::Response& res) {
  WriteRaw(res, 200, ToJson(ctx.evals->List()), "application/json");
}

void EvalGetRoute(const Route&, GatewayContext& ctx, const Params& params, const httplib::Request&,
                  httplib::Response& res) {
  absl::StatusOr<google::protobuf::Struct> job = ctx.evals->Get(params.at("eval_id"));
  if (!job.ok()) return WriteError(res, job.status(), "gateway");
  WriteRaw(res, 200, ToJson(*job), "application/json");
}

void ConsoleFileRoute(const Route&, GatewayContext& ctx, const Params&, const httplib::Request& req,
                      httplib::Response& res) {
  if (ctx.console_dir.empty()) {
    return WriteError(res, absl::NotFoundError("this gateway serves no console (--console_dir)"),
                      "gateway");
  }
  std::string rel = req.path == "/" ? "index.html" : req.path.substr(1);
  const std::string wanted = base::JoinPath(ctx.console_dir, rel);
  char buf[PATH_MAX];
  const bool found = ::realpath(wanted.c_str(), buf) != nullptr;
  const std::string real = found ? buf : "";
  if (!found || !absl::StartsWith(real, ctx.console_dir + "/")) {
    return WriteError(res, absl::NotFoundError(absl::StrCat("no page at ", req.path)), "gateway");
  }
  absl::StatusOr<std::string> body = base::ReadFile(real);
  if (!body.ok()) return WriteError(res, absl::NotFoundError(body.status().message()), "gateway");
  res.set_header("Cache-Control", "no-cache");
  WriteRaw(res, 200, *body, ContentTypeOf(real));
}

}  // namespace latentsearch::gateway

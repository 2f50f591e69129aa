#include "services/gateway/rpc_handlers.h"

#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/logging.h"
#include "common/image/image.h"
#include "common/rpc/status_util.h"
#include "httplib.h"
#include "latentsearch/v1/common.pb.h"
#include "services/gateway/http_errors.h"
#include "services/gateway/json_mapping.h"

namespace latentsearch::gateway {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr size_t kUpsertBatchItems = 512;

bool IsImageContentType(const std::string& content_type) {
  return absl::StartsWith(content_type, "image/") ||
         absl::StartsWith(content_type, "application/octet-stream");
}

// Checks that `bytes` decode as PNG or JPEG and adds them to the upload
// field of `message`.
absl::Status AddUpload(const Route& route, const std::string& name, const std::string& bytes,
                       Message* message) {
  absl::StatusOr<image::Image> decoded = image::Decode(bytes);
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("the upload '", name,
                                                   "' is not a PNG or JPEG image (", bytes.size(),
                                                   " bytes): ", decoded.status().message()));
  }
  const FieldDescriptor* f = message->GetDescriptor()->FindFieldByName(route.upload_field);
  if (f == nullptr) return absl::InternalError("route has no upload field");
  const auto* r = message->GetReflection();
  Message* img = f->is_repeated() ? r->AddMessage(message, f) : r->MutableMessage(message, f);
  static_cast<v1::Image*>(img)->set_encoded(bytes);
  return absl::OkStatus();
}

// Multipart parts: files (a filename or an image content type) are
// uploads, other parts set fields like query parameters.
absl::Status ParseMultipart(const Route& route, const httplib::Request& req, Message* message) {
  int uploads = 0;
  for (const auto& [name, part] : req.files) {
    if (!part.filename.empty() || IsImageContentType(part.content_type) ||
        name == route.upload_field) {
      const std::string label = part.filename.empty() ? name : part.filename;
      if (absl::Status s = AddUpload(route, label, part.content, message); !s.ok()) return s;
      ++uploads;
    } else if (absl::Status s = SetField(message, name, {part.content}); !s.ok()) {
      return s;
    }
  }
  if (uploads == 0) {
    return absl::InvalidArgumentError(
        "the multipart body holds no file part: send the image as a file field");
  }
  return absl::OkStatus();
}

absl::Status ParseBody(const Route& route, const httplib::Request& req, Message* message) {
  const std::string content_type = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
  if (route.body == Body::kJsonOrImage) {
    if (req.is_multipart_form_data()) return ParseMultipart(route, req, message);
    if (IsImageContentType(content_type)) return AddUpload(route, "body", req.body, message);
  }
  if (req.body.empty()) return absl::OkStatus();
  if (!content_type.empty() && !absl::StartsWith(content_type, "application/json")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Content-Type '", content_type, "' is not accepted here; send application/json",
        route.body == Body::kJsonOrImage ? ", an image (image/png, image/jpeg, "
                                           "application/octet-stream) or multipart/form-data"
                                         : ""));
  }
  return MergeJson(req.body, message);
}

}  // namespace

absl::Status ParseRequest(const Route& route, const GatewayContext& ctx, const Params& params,
                          const httplib::Request& req, Message* message) {
  if (route.body != Body::kNone) {
    if (absl::Status s = ParseBody(route, req, message); !s.ok()) return s;
  }
  std::map<std::string, std::vector<std::string>> query;
  for (const auto& [key, value] : req.params) {
    if (absl::StartsWith(key, "_")) continue;  // cache busters
    query[key].push_back(value);
  }
  for (const auto& [key, values] : query) {
    if (absl::Status s = SetField(message, key, values); !s.ok()) return s;
  }
  for (const auto& [key, value] : params) {
    if (absl::Status s = SetField(message, key, {value}); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void WriteJson(httplib::Response& res, const Message& message) {
  res.status = 200;
  res.set_content(ToJson(message), "application/json");
}

void WriteError(httplib::Response& res, const absl::Status& status, const char* service,
                int http_status) {
  if (http_status == 0) http_status = HttpStatusFor(status.code());
  res.status = http_status;
  res.set_content(ErrorJson(status, service, http_status), "application/json");
}

void WriteRpcError(httplib::Response& res, const grpc::Status& status, Backend backend) {
  WriteError(res, rpc::FromGrpcStatus(status), BackendName(backend));
}

void UpsertRoute(const Route& route, GatewayContext& ctx, const Params& params,
                 const httplib::Request& req, httplib::Response& res) {
  v1::UpsertRequest all;
  if (absl::Status s = ParseRequest(route, ctx, params, req, &all); !s.ok()) {
    return WriteError(res, s, "gateway");
  }
  grpc::ClientContext context;
  ctx.backends->SetDeadline(&context);
  v1::UpsertResponse response;
  auto writer = ctx.backends->search()->Upsert(&context, &response);
  const int n = all.items_size();
  for (int begin = 0; begin == 0 || begin < n; begin += kUpsertBatchItems) {
    v1::UpsertRequest batch;
    batch.set_collection(all.collection());
    batch.set_consistency(all.consistency());
    for (int i = begin; i < n && i < begin + static_cast<int>(kUpsertBatchItems); ++i) {
      *batch.add_items() = std::move(*all.mutable_items(i));
    }
    if (!writer->Write(batch)) break;  // Finish says why.
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return WriteRpcError(res, status, route.backend);
  WriteJson(res, response);
}

namespace {

// "step", "epoch", "checkpoint", "push", "state".
std::string EventKind(const v1::TrainingEvent& event) {
  const auto* oneof = event.GetDescriptor()->FindOneofByName("event");
  const FieldDescriptor* set = event.GetReflection()->GetOneofFieldDescriptor(event, oneof);
  return set == nullptr ? "message" : set->name();
}

std::string SseEvent(const std::string& id, const std::string& kind, const std::string& data) {
  std::string out;
  if (!id.empty()) absl::StrAppend(&out, "id: ", id, "\n");
  absl::StrAppend(&out, "event: ", kind, "\ndata: ", data, "\n\n");
  return out;
}

// Checks the job exists, so an unknown id answers 404 JSON, not a stream.
absl::Status CheckJob(GatewayContext& ctx, const std::string& job_id) {
  if (job_id.empty()) return absl::OkStatus();
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  grpc::ClientContext context;
  ctx.backends->SetDeadline(&context);
  return rpc::FromGrpcStatus(ctx.backends->trainer()->GetJob(&context, request, &job));
}

}  // namespace

void WatchTrainingRoute(const Route& route, GatewayContext& ctx, const Params& params,
                        const httplib::Request& req, httplib::Response& res) {
  auto request = std::make_shared<v1::WatchTrainingRequest>();
  if (absl::Status s = ParseRequest(route, ctx, params, req, request.get()); !s.ok()) {
    return WriteError(res, s, "gateway");
  }
  if (absl::Status s = CheckJob(ctx, request->job_id()); !s.ok()) {
    return WriteError(res, s, "trainer");
  }
  uint64_t last_seen = 0;
  const std::string last_id = req.get_header_value("Last-Event-ID");
  if (!last_id.empty() && !absl::SimpleAtoi(last_id, &last_seen)) last_seen = 0;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  GatewayContext* c = &ctx;
  res.set_chunked_content_provider("text/event-stream", [c, request, last_seen](
                                                            size_t, httplib::DataSink& sink) {
    grpc::ClientContext context;
    if (!c->streams->Add(&context)) return false;
    if (c->metrics != nullptr) c->metrics->Stream(1);
    auto reader = c->backends->trainer()->WatchTraining(&context, *request);
    bool open = sink.write(": watching\n\n", 12);
    v1::TrainingEvent event;
    while (open && reader->Read(&event)) {
      if (event.sequence() <= last_seen) continue;
      const std::string text =
          SseEvent(absl::StrCat(event.sequence()), EventKind(event), ToJson(event));
      open = sink.write(text.data(), text.size());
    }
    if (!open) context.TryCancel();
    const grpc::Status status = reader->Finish();
    if (open) {
      const std::string tail =
          status.ok() ? SseEvent("", "end", "{}")
                      : SseEvent("", "error", ErrorJson(rpc::FromGrpcStatus(status), "trainer"));
      sink.write(tail.data(), tail.size());
      sink.done();
    }
    c->streams->Remove(&context);
    if (c->metrics != nullptr) c->metrics->Stream(-1);
    return open;
  });
}

namespace {

// A DownloadCheckpoint stream whose first message (metadata) was read.
struct Download {
  ~Download() {
    if (reader != nullptr && !finished) {
      context.TryCancel();
      (void)reader->Finish();
    }
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::CheckpointChunk>> reader;
  v1::CheckpointMetadata metadata;
  bool finished = false;
};

}  // namespace

void DownloadCheckpointRoute(const Route& route, GatewayContext& ctx, const Params& params,
                             const httplib::Request& req, httplib::Response& res) {
  v1::DownloadCheckpointRequest request;
  if (absl::Status s = ParseRequest(route, ctx, params, req, &request); !s.ok()) {
    return WriteError(res, s, "gateway");
  }
  auto d = std::make_shared<Download>();
  d->reader = ctx.backends->trainer()->DownloadCheckpoint(&d->context, request);
  v1::CheckpointChunk first;
  if (!d->reader->Read(&first) || !first.has_metadata()) {
    grpc::Status status = d->reader->Finish();
    d->finished = true;
    if (status.ok()) status = grpc::Status(grpc::StatusCode::INTERNAL, "no metadata first");
    return WriteRpcError(res, status, route.backend);
  }
  d->metadata = first.metadata();
  const v1::ModelRef& m = d->metadata.model();
  res.set_header("X-Checkpoint-Model", m.name());
  res.set_header("X-Checkpoint-Version", absl::StrCat(m.version()));
  res.set_header("X-Checkpoint-Sha256", d->metadata.sha256());
  res.set_header("Content-Disposition",
                 absl::StrCat("attachment; filename=\"", m.name(), "-v", m.version(), ".ckpt\""));
  GatewayContext* c = &ctx;
  res.set_content_provider(d->metadata.size_bytes(), "application/octet-stream",
                           [c, d](size_t, size_t, httplib::DataSink& sink) {
                             if (!c->streams->Add(&d->context)) return false;
                             v1::CheckpointChunk chunk;
                             bool ok = true;
                             while (ok && d->reader->Read(&chunk)) {
                               ok = sink.write(chunk.data().data(), chunk.data().size());
                             }
                             if (!ok) d->context.TryCancel();
                             const grpc::Status status = d->reader->Finish();
                             d->finished = true;
                             c->streams->Remove(&d->context);
                             if (!status.ok()) {
                               LOG(WARNING) << "checkpoint download cut short: "
                                            << rpc::FormatGrpcStatus(status);
                               return false;
                             }
                             return ok;
                           });
}

}  // namespace latentsearch::gateway

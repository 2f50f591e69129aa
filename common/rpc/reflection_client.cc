#include "common/rpc/reflection_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/rpc/status_util.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/sync_stream.h"

namespace latentsearch::rpc {
namespace {

namespace pb = google::protobuf;

constexpr char kMethod[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

absl::StatusOr<const pb::Message*> Prototype(const std::string& name) {
  const pb::Descriptor* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(name);
  if (d == nullptr) {
    return absl::InternalError(
        absl::StrCat("message type ", name, " is not registered; is libgrpc++_reflection linked?"));
  }
  return pb::MessageFactory::generated_factory()->GetPrototype(d);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  // Referencing the plugin keeps libgrpc++_reflection (and the descriptors
  // it registers) linked in even with --as-needed.
  static const bool kLinked = [] {
    grpc::reflection::ProtoServerReflectionPlugin plugin;
    return !plugin.name().empty();
  }();
  (void)kLinked;

  absl::StatusOr<const pb::Message*> req_proto =
      Prototype("grpc.reflection.v1alpha.ServerReflectionRequest");
  if (!req_proto.ok()) return req_proto.status();
  absl::StatusOr<const pb::Message*> resp_proto =
      Prototype("grpc.reflection.v1alpha.ServerReflectionResponse");
  if (!resp_proto.ok()) return resp_proto.status();

  std::unique_ptr<pb::Message> request((*req_proto)->New());
  const pb::FieldDescriptor* list_field =
      request->GetDescriptor()->FindFieldByName("list_services");
  request->GetReflection()->SetString(request.get(), list_field, "*");

  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::internal::RpcMethod method(kMethod, grpc::internal::RpcMethod::BIDI_STREAMING, channel);
  std::unique_ptr<grpc::ClientReaderWriter<pb::Message, pb::Message>> stream(
      grpc::internal::ClientReaderWriterFactory<pb::Message, pb::Message>::Create(channel.get(),
                                                                                  method, &ctx));
  std::unique_ptr<pb::Message> response((*resp_proto)->New());
  bool wrote = stream->Write(*request);
  if (wrote) stream->WritesDone();
  bool got = wrote && stream->Read(response.get());
  grpc::Status status = stream->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!got) {
    return absl::UnavailableError("reflection stream ended without an answer");
  }

  const pb::Descriptor* rd = response->GetDescriptor();
  const pb::Reflection* rr = response->GetReflection();
  const pb::FieldDescriptor* error_field = rd->FindFieldByName("error_response");
  if (rr->HasField(*response, error_field)) {
    const pb::Message& err = rr->GetMessage(*response, error_field);
    const pb::Reflection* er = err.GetReflection();
    int code = er->GetInt32(err, err.GetDescriptor()->FindFieldByName("error_code"));
    std::string msg = er->GetString(err, err.GetDescriptor()->FindFieldByName("error_message"));
    return FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(code), msg));
  }
  const pb::FieldDescriptor* list_resp = rd->FindFieldByName("list_services_response");
  if (!rr->HasField(*response, list_resp)) {
    return absl::InternalError("reflection answer has no list_services_response");
  }
  const pb::Message& list = rr->GetMessage(*response, list_resp);
  const pb::FieldDescriptor* service_field = list.GetDescriptor()->FindFieldByName("service");
  const pb::Reflection* lr = list.GetReflection();
  std::vector<std::string> names;
  for (int i = 0; i < lr->FieldSize(list, service_field); ++i) {
    const pb::Message& svc = lr->GetRepeatedMessage(list, service_field, i);
    names.push_back(
        svc.GetReflection()->GetString(svc, svc.GetDescriptor()->FindFieldByName("name")));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace latentsearch::rpc

#include "services/encoder/grpc_checkpoint_source.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint_proto.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"
#include "services/encoder/model_registry.h"

namespace latentsearch::encoder {

absl::StatusOr<std::unique_ptr<GrpcCheckpointSource>> GrpcCheckpointSource::Create(
    const std::string& address, const rpc::ClientSecurityOptions& security, uint64_t max_bytes) {
  rpc::ChannelOptions channel_options;
  if (absl::Status s = rpc::ApplyClientSecurity(security, address, &channel_options); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("trainer ", address, ": ", s.message()));
  }
  // A checkpoint arrives in chunks of at most 1 MiB (the request asks so).
  channel_options.max_receive_message_bytes = 4 << 20;
  auto stub = v1::Trainer::NewStub(rpc::CreateChannel(address, channel_options));
  return std::unique_ptr<GrpcCheckpointSource>(
      new GrpcCheckpointSource(address, std::move(stub), max_bytes));
}

absl::StatusOr<std::vector<model::CheckpointMetadata>> GrpcCheckpointSource::List(
    absl::Time deadline) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  v1::ListCheckpointsResponse response;
  absl::Status s =
      rpc::FromGrpcStatus(stub_->ListCheckpoints(&ctx, v1::ListCheckpointsRequest(), &response));
  if (!s.ok()) return s;
  std::vector<model::CheckpointMetadata> out;
  for (const v1::CheckpointMetadata& m : response.checkpoints()) {
    out.push_back(model::CheckpointMetadataFromProto(m));
  }
  return out;
}

absl::StatusOr<model::Checkpoint> GrpcCheckpointSource::Fetch(const std::string& name,
                                                              uint64_t version,
                                                              absl::Time deadline) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  v1::DownloadCheckpointRequest request;
  request.mutable_model()->set_name(name);
  request.mutable_model()->set_version(version);
  request.set_chunk_size_bytes(1 << 20);
  std::unique_ptr<grpc::ClientReader<v1::CheckpointChunk>> reader =
      stub_->DownloadCheckpoint(&ctx, request);
  CheckpointReceiver receiver(max_bytes_);
  v1::CheckpointChunk chunk;
  absl::Status bad;
  while (reader->Read(&chunk)) {
    if (bad = receiver.Add(chunk); !bad.ok()) {
      ctx.TryCancel();
      break;
    }
  }
  absl::Status s = rpc::FromGrpcStatus(reader->Finish());
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  absl::StatusOr<model::Checkpoint> c = receiver.Finish();
  if (c.ok() && (c->metadata.model_name != name || c->metadata.version != version)) {
    return absl::DataLossError(absl::StrCat("asked for ", name, " v", version, ", received ",
                                            c->metadata.model_name, " v", c->metadata.version));
  }
  return c;
}

}  // namespace latentsearch::encoder

#include "services/trainer/push_client.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/model/checkpoint_proto.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"
#include "latentsearch/v1/encoder.grpc.pb.h"

namespace latentsearch::trainer {

absl::Status GrpcCheckpointPusher::Push(const std::string& target,
                                        const model::Checkpoint& checkpoint) {
  rpc::ChannelOptions channel_options;
  if (absl::Status s = rpc::ApplyClientSecurity(options_.security, target, &channel_options);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("push to ", target, ": ", s.message()));
  }
  auto stub = v1::Encoder::NewStub(rpc::CreateChannel(target, channel_options));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(options_.deadline));
  v1::PushCheckpointResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::CheckpointChunk>> writer =
      stub->PushCheckpoint(&ctx, &response);
  v1::CheckpointChunk chunk;
  *chunk.mutable_metadata() = model::CheckpointMetadataToProto(checkpoint.metadata);
  bool ok = writer->Write(chunk);
  const std::string& w = checkpoint.weights;
  const size_t step = std::max<size_t>(1, options_.chunk_bytes);
  for (size_t off = 0; ok && off < w.size(); off += step) {
    chunk.set_data(w.substr(off, step));
    ok = writer->Write(chunk);
  }
  if (ok) writer->WritesDone();
  absl::Status s = rpc::FromGrpcStatus(writer->Finish());
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("push to ", target, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace latentsearch::trainer

#include "services/search/cluster/grpc_peer_scanner.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "grpcpp/client_context.h"

namespace latentsearch::search::cluster {

absl::StatusOr<v1::SearchNode::Stub*> GrpcPeerScanner::StubFor(const std::string& node) {
  absl::MutexLock l(&mu_);
  auto it = stubs_.find(node);
  if (it != stubs_.end()) return it->second.get();
  rpc::ChannelOptions channel_options;
  channel_options.max_receive_message_bytes = 64 << 20;
  // A restarted peer is dialled again within a second, not after gRPC's
  // default backoff (up to 120 s).
  channel_options.max_reconnect_backoff = absl::Seconds(1);
  if (absl::Status s = rpc::ApplyClientSecurity(security_, node, &channel_options); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("peer ", node, ": ", s.message()));
  }
  auto stub = v1::SearchNode::NewStub(rpc::CreateChannel(node, channel_options));
  return stubs_.emplace(node, std::move(stub)).first->second.get();
}

absl::StatusOr<v1::ScanShardResponse> GrpcPeerScanner::Scan(const std::string& node,
                                                            const v1::ScanShardRequest& request) {
  absl::StatusOr<v1::SearchNode::Stub*> stub = StubFor(node);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  v1::ScanShardResponse response;
  grpc::Status status = (*stub)->ScanShard(&ctx, request, &response);
  if (!status.ok()) {
    absl::Status s = rpc::FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("peer ", node, ": ", s.message()));
  }
  return response;
}

absl::StatusOr<v1::GetNodeStatusResponse> GrpcPeerScanner::Status(const std::string& node) {
  absl::StatusOr<v1::SearchNode::Stub*> stub = StubFor(node);
  if (!stub.ok()) return stub.status();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetNodeStatusResponse response;
  grpc::Status status = (*stub)->GetNodeStatus(&ctx, v1::GetNodeStatusRequest(), &response);
  if (!status.ok()) {
    absl::Status s = rpc::FromGrpcStatus(status);
    return absl::Status(s.code(), absl::StrCat("peer ", node, ": ", s.message()));
  }
  return response;
}

}  // namespace latentsearch::search::cluster

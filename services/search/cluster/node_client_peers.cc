#include "services/search/cluster/node_client_peers.h"

#include <optional>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace latentsearch::search::cluster {
namespace {

// Runs one asynchronous NodeClient call and waits for its answer.
template <typename Response, typename Start>
absl::StatusOr<Response> Wait(Start start) {
  absl::Notification done;
  std::optional<absl::StatusOr<Response>> out;
  start([&](absl::StatusOr<Response> r) {
    out = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return *std::move(out);
}

}  // namespace

absl::StatusOr<std::shared_ptr<NodeClient>> NodeClientPeers::ClientFor(const std::string& node) {
  absl::MutexLock l(&mu_);
  auto it = clients_.find(node);
  if (it != clients_.end()) return it->second;
  absl::StatusOr<std::shared_ptr<NodeClient>> client = dial_(node);
  if (!client.ok()) return client.status();
  return clients_.emplace(node, *std::move(client)).first->second;
}

absl::StatusOr<v1::ScanShardResponse> NodeClientPeers::Scan(const std::string& node,
                                                            const v1::ScanShardRequest& request) {
  absl::StatusOr<std::shared_ptr<NodeClient>> client = ClientFor(node);
  if (!client.ok()) return client.status();
  auto req = std::make_shared<const v1::ScanShardRequest>(request);
  return Wait<v1::ScanShardResponse>([&](NodeClient::Done<v1::ScanShardResponse> done) {
    (*client)->ScanShard(req, absl::Now() + timeout_, nullptr, std::move(done));
  });
}

absl::StatusOr<v1::GetNodeStatusResponse> NodeClientPeers::Status(const std::string& node) {
  absl::StatusOr<std::shared_ptr<NodeClient>> client = ClientFor(node);
  if (!client.ok()) return client.status();
  auto req = std::make_shared<const v1::GetNodeStatusRequest>();
  return Wait<v1::GetNodeStatusResponse>([&](NodeClient::Done<v1::GetNodeStatusResponse> done) {
    (*client)->GetNodeStatus(req, absl::Now() + timeout_, nullptr, std::move(done));
  });
}

}  // namespace latentsearch::search::cluster

#include "services/gateway/backends.h"

#include <chrono>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"

namespace latentsearch::gateway {
namespace {

absl::StatusOr<std::shared_ptr<grpc::Channel>> Dial(const std::string& address,
                                                    const rpc::ClientSecurityOptions& security) {
  rpc::ChannelOptions options;
  LS_RETURN_IF_ERROR(rpc::ApplyClientSecurity(security, address, &options));
  return rpc::CreateChannel(address, options);
}

// Asks the whole server's health (""): a backend is down when it does not
// answer or is draining. (The encoder's own service name stays NOT_SERVING
// until a model is loaded; a stack without a model is still ready, so the
// console can start the first training job.)
BackendHealth Probe(const std::string& service, const std::string& address,
                    const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  BackendHealth h;
  h.service = service;
  h.address = address;
  absl::StatusOr<rpc::HealthStatus> status = rpc::CheckHealth(channel, "", timeout);
  if (!status.ok()) {
    h.detail = std::string(status.status().message());
    if (h.detail.empty()) h.detail = status.status().ToString();
  } else {
    h.ready = *status == grpc::health::v1::HealthCheckResponse::SERVING;
    h.detail = rpc::HealthStatusName(*status);
  }
  return h;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Backends>> Backends::Create(const BackendOptions& options) {
  std::unique_ptr<Backends> b(new Backends(options));
  LS_ASSIGN_OR_RETURN(b->trainer_channel_, Dial(options.trainer_address, options.security));
  LS_ASSIGN_OR_RETURN(b->encoder_channel_, Dial(options.encoder_address, options.security));
  LS_ASSIGN_OR_RETURN(b->search_channel_, Dial(options.search_address, options.security));
  b->trainer_ = v1::Trainer::NewStub(b->trainer_channel_);
  b->encoder_ = v1::Encoder::NewStub(b->encoder_channel_);
  b->search_ = v1::Search::NewStub(b->search_channel_);
  return b;
}

void Backends::SetDeadline(grpc::ClientContext* context) const {
  if (options_.timeout == absl::InfiniteDuration()) return;
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMicroseconds(options_.timeout));
}

std::vector<BackendHealth> Backends::CheckHealth(absl::Duration timeout) const {
  auto trainer = std::async(std::launch::async, Probe, "trainer", options_.trainer_address,
                            trainer_channel_, timeout);
  auto encoder = std::async(std::launch::async, Probe, "encoder", options_.encoder_address,
                            encoder_channel_, timeout);
  BackendHealth search = Probe("search", options_.search_address, search_channel_, timeout);
  return {trainer.get(), encoder.get(), std::move(search)};
}

}  // namespace latentsearch::gateway

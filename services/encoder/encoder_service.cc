#include "services/encoder/encoder_service.h"

#include <memory>
#include <utility>

#include "common/rpc/call_util.h"
#include "common/rpc/status_util.h"

namespace latentsearch::encoder {
namespace {

using rpc::ToGrpcStatus;

// One PushCheckpoint stream.
class PushReactor final : public grpc::ServerReadReactor<v1::CheckpointChunk> {
 public:
  PushReactor(EncoderCore* core, v1::PushCheckpointResponse* response)
      : core_(core), response_(response), receiver_(core->NewReceiver()) {
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (ok) {
      absl::Status s = receiver_->Add(chunk_);
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      StartRead(&chunk_);
      return;
    }
    // The client is done writing (or went away): verify, then load off
    // the serving path; finish from the loader thread.
    absl::StatusOr<model::Checkpoint> c = receiver_->Finish();
    if (!c.ok()) {
      Finish(ToGrpcStatus(c.status()));
      return;
    }
    core_->Push(*std::move(c), [this](absl::StatusOr<v1::PushCheckpointResponse> r) {
      if (r.ok()) *response_ = *std::move(r);
      Finish(ToGrpcStatus(r.status()));
    });
  }

  void OnDone() override { delete this; }

 private:
  EncoderCore* const core_;
  v1::PushCheckpointResponse* const response_;
  std::unique_ptr<CheckpointReceiver> receiver_;
  v1::CheckpointChunk chunk_;
};

}  // namespace

grpc::ServerUnaryReactor* EncoderService::Encode(grpc::CallbackServerContext* ctx,
                                                 const v1::EncodeRequest* request,
                                                 v1::EncodeResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Encode(*request, rpc::DeadlineOf(*ctx), response,
                [reactor](const absl::Status& s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* EncoderService::Reconstruct(grpc::CallbackServerContext* ctx,
                                                      const v1::ReconstructRequest* request,
                                                      v1::ReconstructResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  core_->Reconstruct(*request, rpc::DeadlineOf(*ctx), response,
                     [reactor](const absl::Status& s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerReadReactor<v1::CheckpointChunk>* EncoderService::PushCheckpoint(
    grpc::CallbackServerContext*, v1::PushCheckpointResponse* response) {
  return new PushReactor(core_, response);
}

grpc::ServerUnaryReactor* EncoderService::ListModels(grpc::CallbackServerContext* ctx,
                                                     const v1::ListModelsRequest* request,
                                                     v1::ListModelsResponse* response) {
  *response = core_->ListModels(*request);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace latentsearch::encoder

// The Encoder gRPC service: a thin callback-API adapter over EncoderCore
// (STYLE.md point 1). Encode/Reconstruct hand the request to the core and
// return at once; the reactor is finished from the batch's completion on a
// batcher thread, so no gRPC thread ever waits for a forward pass.
// PushCheckpoint reads the stream into a CheckpointReceiver and finishes
// from the registry's loader thread once the checkpoint is live (or
// refused).
// Thread-safety: thread-safe, as gRPC requires.
#ifndef LATENTSEARCH_SERVICES_ENCODER_ENCODER_SERVICE_H_
#define LATENTSEARCH_SERVICES_ENCODER_ENCODER_SERVICE_H_

#include "latentsearch/v1/encoder.grpc.pb.h"
#include "services/encoder/encoder_core.h"

namespace latentsearch::encoder {

class EncoderService final : public v1::Encoder::CallbackService {
 public:
  // `core` must outlive the service.
  explicit EncoderService(EncoderCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* ctx,
                                   const v1::EncodeRequest* request,
                                   v1::EncodeResponse* response) override;
  grpc::ServerUnaryReactor* Reconstruct(grpc::CallbackServerContext* ctx,
                                        const v1::ReconstructRequest* request,
                                        v1::ReconstructResponse* response) override;
  grpc::ServerReadReactor<v1::CheckpointChunk>* PushCheckpoint(
      grpc::CallbackServerContext* ctx, v1::PushCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* ctx,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;

 private:
  EncoderCore* const core_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_ENCODER_SERVICE_H_

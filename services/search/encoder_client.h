// The search service's view of the Encoder service: embeddings of images
// under a pinned model version. SearchCore answers image queries through
// it; grpc_encoder_client.h holds the gRPC implementation, tests use a fake
// (as the trainer pushes through its CheckpointPusher interface). A call
// can be cancelled through a Cancellation (cancellation.h).
// Thread-safety: implementations must be thread-safe (searches call
// Encode concurrently).
#ifndef LATENTSEARCH_SERVICES_SEARCH_ENCODER_CLIENT_H_
#define LATENTSEARCH_SERVICES_SEARCH_ENCODER_CLIENT_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/encoder.pb.h"
#include "services/search/cancellation.h"

namespace latentsearch::search {

class EncoderClient {
 public:
  using EncodeDone = std::function<void(absl::StatusOr<v1::EncodeResponse>)>;

  virtual ~EncoderClient() = default;

  // Encodes request.images with request.model (name and version pinned by
  // the caller). Never blocks: `done` runs exactly once, inline or on
  // another thread, with the encoder's answer or its error: UNAVAILABLE
  // when the encoder cannot be reached, NOT_FOUND when it does not hold the
  // model version, INTERNAL when it refused our credentials, CANCELLED
  // after `cancel`, otherwise the encoder's own code. Every message names
  // the encoder. `deadline`: absl::InfiniteFuture() for none.
  // `cancel` (nullptr = none; not owned, valid until `done` ran): the
  // call registers itself there, so cancel->Cancel() (before or during the
  // call) ends it soon with CANCELLED unless it already finished.
  virtual void Encode(const v1::EncodeRequest& request, absl::Time deadline, Cancellation* cancel,
                      EncodeDone done) = 0;
};

}  // namespace latentsearch::search

#endif  // LATENTSEARCH_SERVICES_SEARCH_ENCODER_CLIENT_H_

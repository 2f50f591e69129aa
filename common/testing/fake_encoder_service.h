// FakeEncoderService: an in-process stand-in for latentsearch-encoder,
// served on 127.0.0.1:0 for tests of the services and tools that call it.
// Configurable per test (Options): the model it serves (name, version,
// latent size), how Encode embeds an image, and what a pushed checkpoint
// must pass beyond the stream checks the real encoder makes (metadata first,
// chunks of at most 1 MiB, announced size, SHA-256). It records what it was
// asked (Encode calls, the version pinned last, accepted and refused pushes).
// It can hold Encode calls until the test releases them (Options::
// hold_encode), to show that a caller does not wait for a stuck encoder.
// Plain C++ and gRPC: no LibTorch (a test that wants pushed weights loaded
// passes Options::check_checkpoint).
//
// Thread-safety: thread-safe; RPCs arrive on gRPC threads while the test
// reads the records and changes the served version.
#ifndef LATENTSEARCH_COMMON_TESTING_FAKE_ENCODER_SERVICE_H_
#define LATENTSEARCH_COMMON_TESTING_FAKE_ENCODER_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/image/image.h"
#include "common/rpc/server.h"
#include "latentsearch/v1/encoder.grpc.pb.h"

namespace latentsearch::testing {

class FakeEncoderService : public v1::Encoder::CallbackService {
 public:
  // Embeds one decoded image (raw pixels, or PNG/JPEG decoded as stored).
  using EmbedFn = std::function<std::vector<float>(const image::Image&)>;
  // Extra check of a pushed checkpoint whose size and SHA-256 matched; a
  // non-OK status refuses the push with INVALID_ARGUMENT and its message.
  using CheckpointCheck =
      std::function<absl::Status(const v1::CheckpointMetadata&, absl::string_view weights)>;

  struct Options {
    std::string model_name = "fake";
    uint64_t version = 1;
    // EncodeResponse.dim and ListModels' latent_size.
    int dim = 2;
    // Default: the image's first pixel value repeated `dim` times (0 for an
    // image without pixels).
    EmbedFn embed;
    // Default: none (size and SHA-256 only).
    CheckpointCheck check_checkpoint;
    // Hold every Encode call unanswered until ReleaseEncodes(), or until it
    // is cancelled (the caller cancelled, its deadline passed, Shutdown):
    // for tests of callers that must not wait for a stuck encoder.
    bool hold_encode = false;
  };

  // One accepted push.
  struct Received {
    v1::CheckpointMetadata metadata;
    std::string sha256;  // Of the bytes that arrived.
    size_t bytes = 0;
    size_t chunks = 0;
    size_t largest_chunk = 0;
  };

  // Starts a server with this service on 127.0.0.1:0.
  static absl::StatusOr<std::unique_ptr<FakeEncoderService>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<FakeEncoderService>> Start() { return Start(Options()); }
  ~FakeEncoderService() override;

  const std::string& address() const { return server_->address(); }
  // Stops serving now (the encoder went down); later calls fail UNAVAILABLE.
  void Shutdown();

  // The version now served. Encode requests that pin another non-zero
  // version are NOT_FOUND ("version not loaded; loaded: N"), as from the
  // real encoder after an eviction.
  void set_version(uint64_t version);
  // Encode calls so far, and the version the last one pinned (0: newest).
  int encode_calls() const;
  uint64_t last_requested_version() const;

  // With Options::hold_encode: blocks until `n` Encode calls are held at
  // once (or the timeout passes); answers every held call as it would have
  // been answered; the calls that ended cancelled while held, and blocks
  // until there are `n` of those.
  bool WaitForHeldEncodes(size_t n, absl::Duration timeout) const;
  void ReleaseEncodes();
  int cancelled_encodes() const;
  bool WaitForCancelledEncodes(int n, absl::Duration timeout) const;

  // Accepted pushes, in arrival order.
  std::vector<Received> received() const;
  // Pushes refused (any error), with the status message.
  std::vector<std::string> refused() const;
  // Blocks until `n` pushes were accepted (or the timeout passes).
  bool WaitForAccepted(size_t n, absl::Duration timeout) const;

  // Encoder RPCs. The others are UNIMPLEMENTED.
  grpc::ServerUnaryReactor* Encode(grpc::CallbackServerContext* ctx,
                                   const v1::EncodeRequest* request,
                                   v1::EncodeResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* ctx,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerReadReactor<v1::CheckpointChunk>* PushCheckpoint(
      grpc::CallbackServerContext* ctx, v1::PushCheckpointResponse* response) override;

  // Called by the push reader when a stream ends.
  void Accept(Received r);
  void Refuse(std::string why);
  // Called by a held Encode call that was cancelled: true when it was still
  // held (it then finishes CANCELLED), false when ReleaseEncodes took it.
  bool DropCancelledEncode(grpc::ServerUnaryReactor* held);
  const CheckpointCheck& checkpoint_check() const { return options_.check_checkpoint; }

 protected:
  // For wrappers that fix the options (see Start): construct, then Serve().
  explicit FakeEncoderService(Options options);
  absl::Status Serve();

 private:
  // The answer to one Encode request (fills *response when OK).
  grpc::Status Answer(const v1::EncodeRequest& request, v1::EncodeResponse* response);

  const Options options_;
  std::unique_ptr<rpc::Server> server_;
  mutable absl::Mutex mu_;
  uint64_t version_ ABSL_GUARDED_BY(mu_);
  int encode_calls_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_requested_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Received> received_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> refused_ ABSL_GUARDED_BY(mu_);
  // Held Encode calls with their answers (Options::hold_encode).
  std::vector<std::pair<grpc::ServerUnaryReactor*, grpc::Status>> held_ ABSL_GUARDED_BY(mu_);
  int cancelled_encodes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace latentsearch::testing

#endif  // LATENTSEARCH_COMMON_TESTING_FAKE_ENCODER_SERVICE_H_

// The encoder's logic without gRPC: the model registry, the shared dynamic
// batcher, and the v1 request/response handling around them (STYLE.md
// point 1; the gRPC adapter in encoder_service.h only converts deadlines
// and finishes reactors).
//
// Encode/Reconstruct never block the caller: they validate, preprocess and
// queue the request, and `done` runs once — inline when the request is
// refused (bad request, no such model, queue full), otherwise on a batcher
// thread after the response has been filled in. PushCheckpoint bytes are
// checked by a CheckpointReceiver as they arrive; the checkpoint is then
// loaded on the registry's loader thread, off the serving path.
//
// Thread-safety: every method is thread-safe.
#ifndef LATENTSEARCH_SERVICES_ENCODER_ENCODER_CORE_H_
#define LATENTSEARCH_SERVICES_ENCODER_ENCODER_CORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "latentsearch/v1/encoder.pb.h"
#include "services/encoder/batch_scheduler.h"
#include "services/encoder/clock.h"
#include "services/encoder/model_registry.h"
#include "services/encoder/model_runner.h"

namespace latentsearch::encoder {

struct EncoderCoreOptions {
  // Checkpoints persist under <data_dir>/models. Required.
  std::string data_dir;
  // Where models run (reported by ListModels). Default: CPU.
  DeviceChoice device;
  // Builds models. Required: TorchRunnerFactory(device) in production.
  RunnerFactory factory;
  // Batching (see batch_scheduler.h). max_queue_size counts images per
  // model version and must be >= max_images_per_request.
  size_t max_batch_size = 32;
  absl::Duration max_queue_delay = absl::Microseconds(500);
  size_t max_queue_size = 4096;
  // Batcher threads shared by all model versions. Default 1.
  int batch_threads = 1;
  // Model versions kept per name. Default 2.
  int keep_versions = 2;
  // Images per Encode/Reconstruct request. Default 1,024.
  size_t max_images_per_request = 1024;
  // Largest checkpoint (weights) a push may carry. Default 1 GiB.
  uint64_t max_checkpoint_bytes = uint64_t{1} << 30;
  // Batch sizes warmed up before a version is published; empty = every size
  // 1..max_batch_size (the sizes the batcher can form).
  std::vector<size_t> warmup_batch_sizes;
  // How each model version's precision is chosen (ModelRegistryOptions::
  // precision): kAuto (the default) times probe images in fp32 and bf16 in
  // batches of max_batch_size, guarded; reported by ListModels.
  model::Precision precision = model::Precision::kAuto;
  // kAuto's timer; nullptr = wall time. Tests inject fakes.
  model::PrecisionTimer precision_timer;
  // nullptr = the real clock. Deadlines passed to Encode are on this clock.
  Clock* clock = nullptr;
  // Hooks for per-thread LibTorch settings (model::SetThreads).
  std::function<void(int)> on_batch_thread_start;
  std::function<void()> on_loader_start;
  // After every computed batch (queue and compute times, size), for
  // metrics; see BatchSchedulerOptions::on_batch. nullptr = none.
  std::function<void(const BatchReport&)> on_batch;
};

class EncoderCore {
 public:
  using Done = std::function<void(const absl::Status&)>;

  // Starts the batcher and restores the stored models (loading them).
  // INVALID_ARGUMENT for inconsistent options.
  static absl::StatusOr<std::unique_ptr<EncoderCore>> Create(const EncoderCoreOptions& options);
  // Shutdown().
  ~EncoderCore();

  // Embeddings of request.images into *response (which must stay valid
  // until `done` ran). `deadline`: InfiniteFuture() when there is none.
  // Errors: INVALID_ARGUMENT (count, a bad image naming its index),
  // NOT_FOUND (model/version not loaded, listing the loaded ones),
  // UNAVAILABLE (no model yet, queue full), RESOURCE_EXHAUSTED (more images
  // than a queue holds), DEADLINE_EXCEEDED (expired while queued).
  void Encode(const v1::EncodeRequest& request, absl::Time deadline, v1::EncodeResponse* response,
              Done done);
  // Reconstructions (encode, then decode) as RawImages of the model's input
  // shape, with the per-image MSE. Errors as Encode, plus
  // FAILED_PRECONDITION for a model without a decoder.
  void Reconstruct(const v1::ReconstructRequest& request, absl::Time deadline,
                   v1::ReconstructResponse* response, Done done);

  // A receiver for one PushCheckpoint stream.
  std::unique_ptr<CheckpointReceiver> NewReceiver() const;
  // Loads `checkpoint` on the loader thread and publishes it; `done` runs
  // there (errors as ModelRegistry::Push).
  void Push(model::Checkpoint checkpoint,
            std::function<void(absl::StatusOr<v1::PushCheckpointResponse>)> done);

  // The models held (request.name "" = all), newest first per name.
  v1::ListModelsResponse ListModels(const v1::ListModelsRequest& request) const;

  // Called with whether a model is loaded, now and after every push.
  void SetReadinessListener(std::function<void(bool)> listener);

  // Runs what is queued, then stops the batcher and the loader. Idempotent.
  void Shutdown();

  ModelRegistry& registry() { return *registry_; }
  BatchScheduler& scheduler() { return *scheduler_; }
  const EncoderCoreOptions& options() const { return options_; }

 private:
  explicit EncoderCore(const EncoderCoreOptions& options) : options_(options) {}
  // Resolves the model and preprocesses; the task's DoneFn is `on_done`.
  absl::Status Submit(const v1::ModelRef& ref,
                      const google::protobuf::RepeatedPtrField<v1::Image>& images, bool reconstruct,
                      absl::Time deadline, InferenceTask::DoneFn on_done);

  const EncoderCoreOptions options_;
  // Declared before registry_: servables' queues must go before the
  // scheduler.
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<ModelRegistry> registry_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_ENCODER_CORE_H_

// One loaded model version as the encoder serves it (a TF Serving
// "servable"): the checkpoint's metadata, its ModelRunner, its batch queue
// and its counters; and the InferenceTask that carries an Encode or
// Reconstruct request through that queue. No LibTorch, no gRPC.
//
// Lifetime: a Servable is shared. The registry's snapshot holds it while
// the version is kept; every queued InferenceTask holds it too, so a
// version that is swapped out or evicted finishes the requests already
// pinned to it before it is destroyed (on the thread that drops the last
// reference, usually a batcher thread).
// Thread-safety: Servable is thread-safe (immutable but for atomic
// counters); an InferenceTask belongs to the batcher between Submit and its
// completion (see batch_scheduler.h).
#ifndef LATENTSEARCH_SERVICES_ENCODER_SERVABLE_H_
#define LATENTSEARCH_SERVICES_ENCODER_SERVABLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/image/preprocess.h"
#include "common/model/checkpoint.h"
#include "common/model/precision.h"
#include "services/encoder/batch_scheduler.h"
#include "services/encoder/model_runner.h"

namespace latentsearch::encoder {

class Servable;

// An Encode (latents only) or Reconstruct (latents, then decoded images)
// request of n images.
class InferenceTask final : public BatchTask {
 public:
  // Runs on a batcher thread once every image has been computed or the
  // task failed; the task is deleted right after.
  using DoneFn = std::function<void(InferenceTask& task, const absl::Status& status,
                                    const TaskTiming& timing)>;

  // inputs: n × C × H × W floats in `servable`'s input shape.
  InferenceTask(std::shared_ptr<Servable> servable, std::vector<float> inputs, size_t n,
                bool reconstruct, absl::Time deadline, DoneFn done);

  const std::shared_ptr<Servable>& servable() const { return servable_; }
  bool reconstruct() const { return reconstruct_; }
  // n × C × H × W.
  const std::vector<float>& inputs() const { return inputs_; }
  // n × latent_size, filled by the batches.
  std::vector<float>& latents() { return latents_; }
  // n × C × H × W for Reconstruct (empty otherwise), filled by the batches.
  std::vector<float>& reconstructions() { return reconstructions_; }

  void Done(const absl::Status& status, const TaskTiming& timing) override;

 private:
  const std::shared_ptr<Servable> servable_;
  const std::vector<float> inputs_;
  const bool reconstruct_;
  std::vector<float> latents_;
  std::vector<float> reconstructions_;
  DoneFn done_;
};

class Servable {
 public:
  // `metadata` must carry a spec with defaults filled in and a normalization
  // that passed ValidateNormalization. The batch queue is added to
  // `scheduler`, which must outlive the Servable.
  // `precision`: how the runner's precision (already set) was chosen.
  static std::shared_ptr<Servable> Create(model::CheckpointMetadata metadata,
                                          std::unique_ptr<ModelRunner> runner,
                                          BatchScheduler* scheduler,
                                          model::PrecisionChoice precision = {});
  ~Servable();
  Servable(const Servable&) = delete;
  Servable& operator=(const Servable&) = delete;

  const model::CheckpointMetadata& metadata() const { return metadata_; }
  const std::string& name() const { return metadata_.model_name; }
  uint64_t version() const { return metadata_.version; }
  const image::InputSpec& input() const { return input_; }
  int latent_size() const { return metadata_.latent_size; }
  ModelRunner& runner() { return *runner_; }
  std::string device() const { return runner_->device(); }
  absl::Time loaded_at() const { return loaded_at_; }
  // The precision this version computes in, and how it was chosen.
  const model::PrecisionChoice& precision() const { return precision_; }

  // One forward pass per batch size in `batch_sizes` (probe images,
  // probe_images.h) and one
  // decode, straight on the runner (not through the queue): run it before
  // the servable is published.
  absl::Status Warmup(const std::vector<size_t>& batch_sizes);

  // Hands `task` (whose servable() is this) to the batcher; refusals as
  // BatchScheduler::Queue::Enqueue.
  absl::Status Submit(std::unique_ptr<InferenceTask> task);

  // Counted when a request finished OK.
  void CountServed(size_t images) {
    requests_served_.fetch_add(1, std::memory_order_relaxed);
    images_served_.fetch_add(images, std::memory_order_relaxed);
  }
  uint64_t requests_served() const { return requests_served_.load(std::memory_order_relaxed); }
  uint64_t images_served() const { return images_served_.load(std::memory_order_relaxed); }

 private:
  Servable(model::CheckpointMetadata metadata, std::unique_ptr<ModelRunner> runner,
           model::PrecisionChoice precision);
  // The BatchFn: gathers the slices' inputs, encodes, scatters the latents,
  // then decodes the Reconstruct slices.
  absl::Status RunBatch(const Batch& batch);

  const model::CheckpointMetadata metadata_;
  const image::InputSpec input_;
  const std::unique_ptr<ModelRunner> runner_;
  const absl::Time loaded_at_;
  const model::PrecisionChoice precision_;
  std::unique_ptr<BatchScheduler::Queue> queue_;
  std::atomic<uint64_t> requests_served_{0};
  std::atomic<uint64_t> images_served_{0};
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_SERVABLE_H_

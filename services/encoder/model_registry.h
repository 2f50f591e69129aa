// The encoder's model registry: the newest `keep_versions` versions of each
// model name, loaded, warmed up and published as one immutable snapshot
// (STYLE.md point 10, after TF Serving's AspiredVersionsManager):
//
//   push ──► CheckpointReceiver (size, SHA-256 as chunks arrive)
//        ──► Push: validate the spec ─► load (RunnerFactory) ─► choose the
//            precision (precision_trial.h) ─► warm up
//            ─► store <data_dir>/models/<name>/vNNNNNN.ckpt atomically
//               (and the precision choice beside it, .ckpt.precision)
//            ─► publish: one atomic shared_ptr swap ─► evict the oldest
//
// Readers take snapshot() (a shared_ptr<const RegistrySnapshot>) and never
// wait for a load; a push that fails at any step leaves the published
// snapshot untouched, so the current model keeps serving. Create() restores
// what is on disk, so a restart serves the same models.
//
// Versions: "newest" is the highest version number held for a name. A push
// of version 0 becomes (highest version held or stored) + 1. A version that
// is already held with the same SHA-256 is answered already_present; with a
// different SHA-256 ALREADY_EXISTS; a version older than all kept versions
// when `keep_versions` are held FAILED_PRECONDITION (it would be evicted at
// once).
//
// No LibTorch (models are built by the RunnerFactory), no gRPC.
// Thread-safety: thread-safe. Pushes are serialised; snapshot() and
// Resolve() never block on them.
#ifndef LATENTSEARCH_SERVICES_ENCODER_MODEL_REGISTRY_H_
#define LATENTSEARCH_SERVICES_ENCODER_MODEL_REGISTRY_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/model/checkpoint.h"
#include "latentsearch/v1/common.pb.h"
#include "services/encoder/batch_scheduler.h"
#include "services/encoder/model_runner.h"
#include "services/encoder/servable.h"

namespace latentsearch::encoder {

// Receives one PushCheckpoint stream: the metadata first, then data chunks.
// Checks the announced size against `max_bytes`, the spec, the name and the
// hash format as soon as the metadata arrives (so a bad push is refused
// before its bytes are sent), and hashes the data as it arrives.
// Thread-safety: one thread at a time.
class CheckpointReceiver {
 public:
  explicit CheckpointReceiver(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // INVALID_ARGUMENT: data before the metadata, a second metadata message,
  // an empty message, a bad name, spec, normalization or SHA-256 field;
  // RESOURCE_EXHAUSTED: size_bytes over max_bytes; DATA_LOSS: more data
  // than size_bytes.
  absl::Status Add(const v1::CheckpointChunk& chunk);
  // After the last chunk. INVALID_ARGUMENT for a stream without metadata;
  // DATA_LOSS when the data is shorter than size_bytes (truncated) or
  // hashes differently.
  absl::StatusOr<model::Checkpoint> Finish();

 private:
  const uint64_t max_bytes_;
  bool have_metadata_ = false;
  int messages_ = 0;
  model::Checkpoint checkpoint_;
  std::unique_ptr<model::Sha256> hash_;
};

// Checks a checkpoint's metadata as the registry needs it and fills in the
// spec's defaults (latent size, input shape). INVALID_ARGUMENT naming the
// field.
absl::Status ValidateMetadata(model::CheckpointMetadata* metadata);

// The published state: per name, the kept versions, newest first.
struct RegistrySnapshot {
  std::map<std::string, std::vector<std::shared_ptr<Servable>>> models;
  bool empty() const { return models.empty(); }
};

struct PushResult {
  model::CheckpointMetadata metadata;  // As stored (version assigned).
  bool already_present = false;
  double load_seconds = 0;  // Verify, load, warm up and store.
};

struct ModelRegistryOptions {
  // Checkpoints live under <data_dir>/models/<name>/. Required.
  std::string data_dir;
  // Versions kept per name (>= 1). Default 2.
  int keep_versions = 2;
  // Builds the model of a checkpoint. Required.
  RunnerFactory factory;
  // Where each servable's batch queue lives. Required; must outlive the
  // registry.
  BatchScheduler* scheduler = nullptr;
  // One warm-up forward pass per size before a version is published.
  std::vector<size_t> warmup_batch_sizes;
  // Runs first on the loader thread (PushAsync), e.g. LibTorch threads.
  std::function<void()> on_loader_start;
  // Each version's precision (precision_trial.h), chosen when the version
  // is first loaded and kept beside its checkpoint (vNNNNNN.ckpt.precision):
  // with kAuto a restart reuses the stored choice instead of measuring
  // again, so one version's vectors are never made in two precisions by
  // accident. kFloat32 / kBFloat16 apply as asked (and are stored).
  model::Precision precision = model::Precision::kAuto;
  // kAuto's trial: probe images per precision, images per timed batch,
  // and the timer (nullptr = wall time).
  size_t probe_images = 64;
  size_t trial_batch_size = 32;
  model::PrecisionTimer precision_timer;
};

class ModelRegistry {
 public:
  // Opens <data_dir>/models (created if missing) and loads the newest
  // keep_versions readable checkpoints of every name. A checkpoint that
  // fails to read or load is skipped (logged, and in restore_errors());
  // the next older one is tried. INVALID_ARGUMENT for bad options; errors
  // of the directory itself.
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Create(const ModelRegistryOptions& options);
  // Shutdown().
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // The current snapshot; never null.
  std::shared_ptr<const RegistrySnapshot> snapshot() const;

  // The servable for `name` ("" = "default") and `version` (0 = newest).
  // UNAVAILABLE when no model is loaded at all; NOT_FOUND (listing what is
  // loaded) for an unknown name or version.
  absl::StatusOr<std::shared_ptr<Servable>> Resolve(absl::string_view name, uint64_t version) const;

  // Verifies, loads, warms up, stores and publishes `checkpoint` (see the
  // file comment). Blocks for the whole load: call it off the serving path
  // (PushAsync does). DATA_LOSS: weights not matching size/SHA-256;
  // INVALID_ARGUMENT: bad metadata or weights that do not load;
  // ALREADY_EXISTS / FAILED_PRECONDITION: see the file comment;
  // UNAVAILABLE after Shutdown.
  absl::StatusOr<PushResult> Push(model::Checkpoint checkpoint);

  // Push on the registry's loader thread; `done` runs there.
  void PushAsync(model::Checkpoint checkpoint,
                 std::function<void(absl::StatusOr<PushResult>)> done);

  // Called with whether any model is loaded, now and after every publish.
  void SetReadinessListener(std::function<void(bool)> listener);

  // Checkpoints Create() could not restore, one line each.
  const std::vector<std::string>& restore_errors() const { return restore_errors_; }

  // Finishes the running push, refuses queued and new ones (UNAVAILABLE)
  // and joins the loader thread. Idempotent.
  void Shutdown();

 private:
  explicit ModelRegistry(const ModelRegistryOptions& options);
  absl::Status Restore();
  // Loads, chooses the precision (`stored`: a choice read from disk, or
  // nullptr) and warms up; no publication.
  absl::StatusOr<std::shared_ptr<Servable>> Load(const model::Checkpoint& checkpoint,
                                                 const model::PrecisionChoice* stored = nullptr);
  // The file keeping a version's precision choice.
  std::string PrecisionPath(const std::string& name, uint64_t version) const;
  // Writes `servable`'s choice beside its checkpoint; a failure is logged.
  void StorePrecision(const Servable& servable);
  // Installs `servable`, evicting beyond keep_versions; returns the evicted.
  std::vector<std::shared_ptr<Servable>> Publish(std::shared_ptr<Servable> servable)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(push_mu_);
  // Push without its log line on failure.
  absl::StatusOr<PushResult> Install(model::Checkpoint checkpoint);
  // Removes the files of versions Publish evicted, logging each.
  void Evicted(const std::vector<std::shared_ptr<Servable>>& evicted);
  void LoaderLoop();

  const ModelRegistryOptions options_;
  std::unique_ptr<model::CheckpointStore> store_;
  std::vector<std::string> restore_errors_;

  // The published snapshot, read and replaced with std::atomic_load/store.
  std::shared_ptr<const RegistrySnapshot> snapshot_;

  // std::mutex (not absl::Mutex) so that the ThreadSanitizer build sees them.
  std::mutex push_mu_;  // Serialises pushes. Taken before loader_mu_.

  std::mutex loader_mu_;
  std::function<void(bool)> listener_ ABSL_GUARDED_BY(loader_mu_);
  std::condition_variable loader_cv_;
  struct PendingPush {
    model::Checkpoint checkpoint;
    std::function<void(absl::StatusOr<PushResult>)> done;
  };
  std::deque<PendingPush> pending_ ABSL_GUARDED_BY(loader_mu_);
  bool stopping_ ABSL_GUARDED_BY(loader_mu_) = false;
  std::thread loader_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_MODEL_REGISTRY_H_

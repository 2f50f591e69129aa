// VersionSync: an encoder replica fetches the model versions it should hold
// but lacks from a CheckpointSource (the trainer's store) and installs them
// through its ModelRegistry, exactly as a push would (verify, load, warm
// up, store, publish). This is how a replica that was down while the
// trainer pushed, or one started on an empty disk (a Kubernetes emptyDir),
// ends up holding the same versions as its peers: main.cc runs one pass
// before the server listens, then a pass every `interval` in the
// background, so a push missed for any reason is caught up.
//
// "Should hold": for every name the source lists, its newest
// `keep_versions` versions (the registry keeps that many). A version the
// registry already holds is skipped; one the registry refuses (older than
// every kept version, or the same version with other bytes) is reported,
// not retried within the pass.
//
// Thread-safety: SyncOnce may run on any thread, one pass at a time (later
// calls wait); Start/Stop from one thread.
#ifndef LATENTSEARCH_SERVICES_ENCODER_VERSION_SYNC_H_
#define LATENTSEARCH_SERVICES_ENCODER_VERSION_SYNC_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/encoder/checkpoint_source.h"
#include "services/encoder/model_registry.h"

namespace latentsearch::encoder {

// What one pass did.
struct SyncReport {
  // "name vN" of each version installed, oldest first.
  std::vector<std::string> pulled;
  // Versions the registry held already.
  int already_held = 0;
  // One line per version that could not be fetched or installed.
  std::vector<std::string> errors;
  // "pulled 1 version(s) from trainer X: m v3; 2 already held".
  std::string Summary(const std::string& source) const;
};

struct VersionSyncOptions {
  // Not owned; must outlive the VersionSync. Required.
  CheckpointSource* source = nullptr;
  // Not owned; must outlive the VersionSync. Required.
  ModelRegistry* registry = nullptr;
  // Newest versions per name to hold (the registry's keep_versions). >= 1.
  int keep_versions = 2;
  // Between background passes (Start). Must be > 0 to Start.
  absl::Duration interval = absl::Seconds(30);
  // Longest one background pass may take (listing and fetching).
  absl::Duration pass_timeout = absl::Minutes(5);
  // Called at the end of every pass (SyncOnce, also the background ones)
  // with what it returns, on the pass's thread; for metrics. May be empty.
  std::function<void(const absl::StatusOr<SyncReport>&)> on_pass;
};

class VersionSync {
 public:
  // INVALID_ARGUMENT without a source or registry, or keep_versions < 1.
  static absl::StatusOr<std::unique_ptr<VersionSync>> Create(const VersionSyncOptions& options);
  // Stop().
  ~VersionSync();

  // One pass: lists the source and installs what the registry lacks, on
  // the registry's loader thread (PushAsync). Per-version failures are in
  // the report (and logged at WARNING); the status is the listing's error
  // when the source could not be listed.
  absl::StatusOr<SyncReport> SyncOnce(absl::Time deadline);

  // Starts a background pass every options.interval (the first one an
  // interval from now). CHECK-fails when already started or interval <= 0.
  void Start();
  // Ends the background passes (a pass in flight finishes its current
  // fetch or install first). Idempotent.
  void Stop();

 private:
  explicit VersionSync(const VersionSyncOptions& options) : options_(options) {}
  // SyncOnce without the lock and the hook.
  absl::StatusOr<SyncReport> Pass(absl::Time deadline);
  // Installs one fetched checkpoint; true when newly installed.
  absl::StatusOr<bool> Install(model::Checkpoint checkpoint);
  void Loop();

  const VersionSyncOptions options_;
  std::mutex pass_mu_;  // One pass at a time.
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_VERSION_SYNC_H_

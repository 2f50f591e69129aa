// The encoder's own /metrics families. Batching (from the batcher's on_batch
// hook, on the batcher thread):
//
//   latentsearch_encoder_queue_seconds        histogram: per request part, from
//                                             Enqueue to its batch closing
//   latentsearch_encoder_compute_seconds      histogram: per batch, forward pass(es)
//   latentsearch_encoder_batch_size           histogram: images per batch
//   latentsearch_encoder_batches_total{outcome}   ok | error
//
// and, read at scrape time from the scheduler and the registry:
//
//   latentsearch_encoder_batched_images_total
//   latentsearch_encoder_rejected_queue_full_total   Enqueues refused (UNAVAILABLE)
//   latentsearch_encoder_deadline_dropped_total      requests dropped before compute
//   latentsearch_encoder_served_images_total{model,version}
//   latentsearch_encoder_models_loaded
//   latentsearch_encoder_model_precision{model,version,precision}   1 per loaded
//                                             version, labelled with the precision it
//                                             computes in (fp32 | bf16)
//   latentsearch_encoder_precision_trial_seconds{model,version,precision}   seconds
//                                             per trial batch of the version's
//                                             --precision=auto trial, per precision
//
// and, from VersionSync's on_pass hook (--pull_from):
//
//   latentsearch_encoder_pull_passes_total{outcome}   ok | error (the trainer
//                                             could not be listed)
//   latentsearch_encoder_pulled_versions_total{outcome}   pulled | failed
//
// Requests per RPC and status come from the common server interceptor.
// Thread-safety: thread-safe.
#ifndef LATENTSEARCH_SERVICES_ENCODER_ENCODER_METRICS_H_
#define LATENTSEARCH_SERVICES_ENCODER_ENCODER_METRICS_H_

#include <functional>

#include "common/rpc/metrics.h"
#include "services/encoder/batch_scheduler.h"
#include "services/encoder/model_registry.h"
#include "services/encoder/version_sync.h"

namespace latentsearch::encoder {

class EncoderMetrics {
 public:
  // Registers the batching families in `registry` (not owned; must outlive
  // this object).
  explicit EncoderMetrics(rpc::MetricsRegistry* registry);

  // For EncoderCoreOptions::on_batch. The returned function refers to this
  // object, which must outlive the core.
  std::function<void(const BatchReport&)> BatchObserver();

  // Registers the scrape-time families over the core's scheduler and model
  // registry (not owned; they must outlive every Render()). Call once.
  void ObserveCore(const BatchScheduler* scheduler, const ModelRegistry* models);

  // For VersionSyncOptions::on_pass; refers to this object, which must
  // outlive the VersionSync.
  std::function<void(const absl::StatusOr<SyncReport>&)> PullObserver();

 private:
  rpc::MetricsRegistry* const registry_;
  rpc::Histogram* const queue_seconds_;
  rpc::Histogram* const compute_seconds_;
  rpc::Histogram* const batch_size_;
  rpc::CounterFamily* const batches_;
  rpc::Counter* const batches_ok_;
  rpc::Counter* const batches_error_;
  rpc::CounterFamily* const pull_passes_;
  rpc::CounterFamily* const pulled_versions_;
};

}  // namespace latentsearch::encoder

#endif  // LATENTSEARCH_SERVICES_ENCODER_ENCODER_METRICS_H_

#include "services/encoder/encoder_metrics.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/encoder/servable.h"

namespace latentsearch::encoder {
namespace {

using rpc::GaugeSample;

// One sample per loaded (model, version).
std::vector<GaugeSample> PerServable(const ModelRegistry* models,
                                     double (*value)(const Servable&)) {
  std::vector<GaugeSample> out;
  const auto snapshot = models->snapshot();
  for (const auto& [name, servables] : snapshot->models) {
    for (const auto& s : servables) {
      out.push_back({{name, absl::StrCat(s->version())}, value(*s)});
    }
  }
  return out;
}

}  // namespace

EncoderMetrics::EncoderMetrics(rpc::MetricsRegistry* registry)
    : registry_(registry),
      queue_seconds_(registry
                         ->AddHistogram("latentsearch_encoder_queue_seconds",
                                        "Time a request part waited in the batch queue, "
                                        "from Enqueue to its batch closing.",
                                        {}, rpc::LatencyBuckets())
                         ->Get({})),
      compute_seconds_(registry
                           ->AddHistogram("latentsearch_encoder_compute_seconds",
                                          "Time per batch in the model (forward, and decode "
                                          "for Reconstruct).",
                                          {}, rpc::LatencyBuckets())
                           ->Get({})),
      batch_size_(registry
                      ->AddHistogram("latentsearch_encoder_batch_size", "Images per batch.", {},
                                     rpc::ExponentialBuckets(1, 2, 11))
                      ->Get({})),
      batches_(registry->AddCounter("latentsearch_encoder_batches_total",
                                    "Batches computed, by outcome.", {"outcome"})),
      batches_ok_(batches_->Get({"ok"})),
      batches_error_(batches_->Get({"error"})),
      pull_passes_(registry->AddCounter("latentsearch_encoder_pull_passes_total",
                                        "Passes pulling missing versions from the trainer "
                                        "(--pull_from), by outcome: ok, or error when the "
                                        "trainer could not be listed.",
                                        {"outcome"})),
      pulled_versions_(registry->AddCounter("latentsearch_encoder_pulled_versions_total",
                                            "Versions fetched from the trainer and installed "
                                            "(pulled), or that could not be (failed).",
                                            {"outcome"})) {}

std::function<void(const absl::StatusOr<SyncReport>&)> EncoderMetrics::PullObserver() {
  return [this](const absl::StatusOr<SyncReport>& r) {
    pull_passes_->Get({r.ok() ? "ok" : "error"})->Increment();
    if (!r.ok()) return;
    if (!r->pulled.empty()) pulled_versions_->Get({"pulled"})->Increment(r->pulled.size());
    if (!r->errors.empty()) pulled_versions_->Get({"failed"})->Increment(r->errors.size());
  };
}

std::function<void(const BatchReport&)> EncoderMetrics::BatchObserver() {
  return [this](const BatchReport& r) {
    for (absl::Duration wait : r.queue_waits) {
      queue_seconds_->Observe(absl::ToDoubleSeconds(wait));
    }
    compute_seconds_->Observe(absl::ToDoubleSeconds(r.compute));
    batch_size_->Observe(static_cast<double>(r.size));
    (r.ok ? batches_ok_ : batches_error_)->Increment();
  };
}

void EncoderMetrics::ObserveCore(const BatchScheduler* scheduler, const ModelRegistry* models) {
  registry_->AddCallbackCounter(
      "latentsearch_encoder_batched_images_total", "Images computed in batches.", {}, [scheduler] {
        return std::vector<GaugeSample>{{{}, static_cast<double>(scheduler->stats().items)}};
      });
  registry_->AddCallbackCounter(
      "latentsearch_encoder_rejected_queue_full_total",
      "Requests refused at once because their model's queue was full (UNAVAILABLE).", {},
      [scheduler] {
        return std::vector<GaugeSample>{
            {{}, static_cast<double>(scheduler->stats().rejected_full)}};
      });
  registry_->AddCallbackCounter(
      "latentsearch_encoder_deadline_dropped_total",
      "Requests dropped before compute because their deadline had passed.", {}, [scheduler] {
        return std::vector<GaugeSample>{
            {{}, static_cast<double>(scheduler->stats().deadline_dropped)}};
      });
  registry_->AddCallbackGauge("latentsearch_encoder_models_loaded",
                              "Model versions loaded and serving.", {}, [models] {
                                size_t n = 0;
                                for (const auto& [name, versions] : models->snapshot()->models) {
                                  n += versions.size();
                                }
                                return std::vector<GaugeSample>{{{}, static_cast<double>(n)}};
                              });
  registry_->AddCallbackGauge(
      "latentsearch_encoder_model_precision",
      "1 per loaded model version, labelled with the precision it computes in.",
      {"model", "version", "precision"}, [models] {
        std::vector<GaugeSample> out;
        for (const auto& [name, servables] : models->snapshot()->models) {
          for (const auto& s : servables) {
            out.push_back(
                {{name, absl::StrCat(s->version()), model::PrecisionName(s->precision().chosen)},
                 1.0});
          }
        }
        return out;
      });
  registry_->AddCallbackGauge(
      "latentsearch_encoder_precision_trial_seconds",
      "Wall seconds per trial batch of a version's --precision=auto trial, per precision.",
      {"model", "version", "precision"}, [models] {
        std::vector<GaugeSample> out;
        for (const auto& [name, servables] : models->snapshot()->models) {
          for (const auto& s : servables) {
            const model::PrecisionChoice& c = s->precision();
            if (!c.measured) continue;
            const std::string v = absl::StrCat(s->version());
            out.push_back({{name, v, "fp32"}, c.fp32_seconds});
            out.push_back({{name, v, "bf16"}, c.bf16_seconds});
          }
        }
        return out;
      });
  registry_->AddCallbackCounter(
      "latentsearch_encoder_served_images_total",
      "Images of requests that finished OK, per model version.", {"model", "version"}, [models] {
        return PerServable(
            models, [](const Servable& s) { return static_cast<double>(s.images_served()); });
      });
}

}  // namespace latentsearch::encoder

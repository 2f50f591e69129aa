#include "services/encoder/encoder_core.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/image/preprocess.h"
#include "common/model/checkpoint_proto.h"
#include "services/encoder/preprocess.h"

namespace latentsearch::encoder {
namespace {

// ModelInfo.precision from a servable's choice (NaN figures as 0).
void PrecisionToProto(const model::PrecisionChoice& c, v1::PrecisionInfo* p) {
  auto value = [](double v) { return std::isfinite(v) ? v : 0.0; };
  p->set_requested(model::PrecisionName(c.requested));
  p->set_chosen(model::PrecisionName(c.chosen));
  p->set_measured(c.measured);
  p->set_fp32_seconds_per_batch(value(c.fp32_seconds));
  p->set_bf16_seconds_per_batch(value(c.bf16_seconds));
  p->set_trial_batch_size(static_cast<uint32_t>(std::max(0, c.trial_batch)));
  p->set_min_cosine(value(c.min_cosine));
  p->set_neighbour_overlap(value(c.neighbour_overlap));
  p->set_bf16_safe(c.bf16_safe);
  p->set_reason(c.reason);
  if (c.decided_at != absl::InfinitePast())
    model::TimeToProto(c.decided_at, p->mutable_decided_at());
}

void SetTiming(const TaskTiming& t, v1::RequestTiming* out) {
  out->set_queue_micros(static_cast<uint64_t>(absl::ToInt64Microseconds(t.queue)));
  out->set_compute_micros(static_cast<uint64_t>(absl::ToInt64Microseconds(t.compute)));
  out->set_batch_size(t.mean_batch_size);
}

void SetModel(const Servable& s, v1::ModelRef* out) {
  out->set_name(s.name());
  out->set_version(s.version());
}

}  // namespace

absl::StatusOr<std::unique_ptr<EncoderCore>> EncoderCore::Create(
    const EncoderCoreOptions& options) {
  if (options.max_images_per_request == 0) {
    return absl::InvalidArgumentError("max_images_per_request must be at least 1");
  }
  if (options.max_queue_size < options.max_images_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("max_queue_size (", options.max_queue_size,
                                                   ") must be at least "
                                                   "max_images_per_request (",
                                                   options.max_images_per_request,
                                                   "): a full-size request must fit in the queue"));
  }
  if (options.batch_threads < 1) {
    return absl::InvalidArgumentError("batch_threads must be at least 1");
  }
  std::unique_ptr<EncoderCore> core(new EncoderCore(options));
  BatchSchedulerOptions so;
  so.max_batch_size = options.max_batch_size;
  so.max_queue_delay = options.max_queue_delay;
  so.max_queue_size = options.max_queue_size;
  so.num_threads = options.batch_threads;
  so.clock = options.clock;
  so.on_thread_start = options.on_batch_thread_start;
  so.on_batch = options.on_batch;
  LS_ASSIGN_OR_RETURN(core->scheduler_, BatchScheduler::Create(so));

  ModelRegistryOptions ro;
  ro.data_dir = options.data_dir;
  ro.keep_versions = options.keep_versions;
  ro.factory = options.factory;
  ro.scheduler = core->scheduler_.get();
  ro.warmup_batch_sizes = options.warmup_batch_sizes;
  if (ro.warmup_batch_sizes.empty()) {
    for (size_t n = 1; n <= options.max_batch_size; ++n) ro.warmup_batch_sizes.push_back(n);
  }
  ro.on_loader_start = options.on_loader_start;
  ro.precision = options.precision;
  ro.precision_timer = options.precision_timer;
  ro.trial_batch_size = std::max<size_t>(1, options.max_batch_size);
  ro.probe_images = std::max<size_t>(64, ro.trial_batch_size);
  LS_ASSIGN_OR_RETURN(core->registry_, ModelRegistry::Create(ro));
  return core;
}

EncoderCore::~EncoderCore() { Shutdown(); }

void EncoderCore::Shutdown() {
  if (registry_) registry_->Shutdown();
  if (scheduler_) scheduler_->Shutdown();
}

absl::Status EncoderCore::Submit(const v1::ModelRef& ref,
                                 const google::protobuf::RepeatedPtrField<v1::Image>& images,
                                 bool reconstruct, absl::Time deadline,
                                 InferenceTask::DoneFn on_done) {
  // The request itself first: a wrong request is wrong whatever is loaded.
  const size_t n = static_cast<size_t>(images.size());
  if (n == 0 || n > options_.max_images_per_request) {
    return PreprocessImages(images, image::InputSpec(), options_.max_images_per_request).status();
  }
  LS_ASSIGN_OR_RETURN(std::shared_ptr<Servable> servable,
                      registry_->Resolve(ref.name(), ref.version()));
  if (reconstruct && !servable->runner().has_decoder()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", servable->name(), " v", servable->version(),
                     " has no decoder; Reconstruct needs an autoencoder checkpoint"));
  }
  LS_ASSIGN_OR_RETURN(std::vector<float> inputs,
                      PreprocessImages(images, servable->input(), options_.max_images_per_request));
  Servable* s = servable.get();
  return s->Submit(std::make_unique<InferenceTask>(std::move(servable), std::move(inputs), n,
                                                   reconstruct, deadline, std::move(on_done)));
}

void EncoderCore::Encode(const v1::EncodeRequest& request, absl::Time deadline,
                         v1::EncodeResponse* response, Done done) {
  absl::Status s = Submit(
      request.model(), request.images(), /*reconstruct=*/false, deadline,
      [response, done](InferenceTask& task, const absl::Status& status, const TaskTiming& timing) {
        if (status.ok()) {
          const Servable& sv = *task.servable();
          const size_t latent = static_cast<size_t>(sv.latent_size());
          SetModel(sv, response->mutable_model());
          response->set_dim(static_cast<uint32_t>(latent));
          SetTiming(timing, response->mutable_timing());
          const float* z = task.latents().data();
          auto* embeddings = response->mutable_embeddings();
          embeddings->Reserve(static_cast<int>(task.size()));
          for (size_t i = 0; i < task.size(); ++i) {
            auto* values = embeddings->Add()->mutable_values();
            values->Resize(static_cast<int>(latent), 0.0f);
            std::copy(z + i * latent, z + (i + 1) * latent, values->mutable_data());
          }
        }
        done(status);
      });
  if (!s.ok()) done(s);
}

void EncoderCore::Reconstruct(const v1::ReconstructRequest& request, absl::Time deadline,
                              v1::ReconstructResponse* response, Done done) {
  absl::Status s =
      Submit(request.model(), request.images(), /*reconstruct=*/true, deadline,
             [response, done](InferenceTask& task, const absl::Status& status, const TaskTiming&) {
               if (status.ok()) {
                 const Servable& sv = *task.servable();
                 const image::InputSpec& spec = sv.input();
                 const size_t per = spec.floats_per_image();
                 SetModel(sv, response->mutable_model());
                 for (size_t i = 0; i < task.size(); ++i) {
                   absl::Span<const float> in(task.inputs().data() + i * per, per);
                   absl::Span<const float> out(task.reconstructions().data() + i * per, per);
                   ToRawImage(out, spec, response->add_images());
                   response->add_mse(image::PixelMse(in, out, spec));
                 }
               }
               done(status);
             });
  if (!s.ok()) done(s);
}

std::unique_ptr<CheckpointReceiver> EncoderCore::NewReceiver() const {
  return std::make_unique<CheckpointReceiver>(options_.max_checkpoint_bytes);
}

void EncoderCore::Push(model::Checkpoint checkpoint,
                       std::function<void(absl::StatusOr<v1::PushCheckpointResponse>)> done) {
  registry_->PushAsync(std::move(checkpoint),
                       [done = std::move(done)](absl::StatusOr<PushResult> r) {
                         if (!r.ok()) {
                           done(r.status());
                           return;
                         }
                         v1::PushCheckpointResponse response;
                         response.mutable_model()->set_name(r->metadata.model_name);
                         response.mutable_model()->set_version(r->metadata.version);
                         response.set_already_present(r->already_present);
                         response.set_load_seconds(r->load_seconds);
                         done(std::move(response));
                       });
}

v1::ListModelsResponse EncoderCore::ListModels(const v1::ListModelsRequest& request) const {
  v1::ListModelsResponse out;
  std::shared_ptr<const RegistrySnapshot> snap = registry_->snapshot();
  for (const auto& [name, list] : snap->models) {
    if (!request.name().empty() && request.name() != name) continue;
    for (size_t i = 0; i < list.size(); ++i) {
      const Servable& s = *list[i];
      v1::ModelInfo* info = out.add_models();
      *info->mutable_metadata() = model::CheckpointMetadataToProto(s.metadata());
      info->set_device(s.device());
      model::TimeToProto(s.loaded_at(), info->mutable_loaded_at());
      info->set_requests_served(s.requests_served());
      info->set_images_served(s.images_served());
      info->set_newest(i == 0);
      PrecisionToProto(s.precision(), info->mutable_precision());
    }
  }
  const DeviceChoice& d = options_.device;
  out.set_device_requested(d.requested);
  out.set_device(d.note.empty() ? d.device : absl::StrCat(d.device, ": ", d.note));
  out.set_device_note(d.note);
  out.set_max_batch_size(static_cast<uint32_t>(options_.max_batch_size));
  out.set_max_queue_delay_us(
      static_cast<uint64_t>(absl::ToInt64Microseconds(options_.max_queue_delay)));
  out.set_precision_requested(model::PrecisionName(options_.precision));
  return out;
}

void EncoderCore::SetReadinessListener(std::function<void(bool)> listener) {
  registry_->SetReadinessListener(std::move(listener));
}

}  // namespace latentsearch::encoder

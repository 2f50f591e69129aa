#include "services/encoder/servable.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "services/encoder/preprocess.h"
#include "services/encoder/probe_images.h"

namespace latentsearch::encoder {

InferenceTask::InferenceTask(std::shared_ptr<Servable> servable, std::vector<float> inputs,
                             size_t n, bool reconstruct, absl::Time deadline, DoneFn done)
    : BatchTask(n, deadline),
      servable_(std::move(servable)),
      inputs_(std::move(inputs)),
      reconstruct_(reconstruct),
      latents_(n * static_cast<size_t>(servable_->latent_size())),
      reconstructions_(reconstruct ? inputs_.size() : 0),
      done_(std::move(done)) {}

void InferenceTask::Done(const absl::Status& status, const TaskTiming& timing) {
  if (status.ok()) servable_->CountServed(size());
  done_(*this, status, timing);
}

Servable::Servable(model::CheckpointMetadata metadata, std::unique_ptr<ModelRunner> runner,
                   model::PrecisionChoice precision)
    : metadata_(std::move(metadata)),
      input_(InputSpecOf(metadata_)),
      runner_(std::move(runner)),
      loaded_at_(absl::Now()),
      precision_(std::move(precision)) {}

std::shared_ptr<Servable> Servable::Create(model::CheckpointMetadata metadata,
                                           std::unique_ptr<ModelRunner> runner,
                                           BatchScheduler* scheduler,
                                           model::PrecisionChoice precision) {
  std::shared_ptr<Servable> s(
      new Servable(std::move(metadata), std::move(runner), std::move(precision)));
  Servable* raw = s.get();
  s->queue_ = scheduler->AddQueue(absl::StrCat(raw->name(), " v", raw->version()),
                                  [raw](const Batch& b) { return raw->RunBatch(b); });
  return s;
}

Servable::~Servable() { queue_.reset(); }

absl::Status Servable::Submit(std::unique_ptr<InferenceTask> task) {
  return queue_->Enqueue(std::move(task));
}

absl::Status Servable::Warmup(const std::vector<size_t>& batch_sizes) {
  const size_t per = input_.floats_per_image();
  const size_t latent = static_cast<size_t>(latent_size());
  size_t most = 1;
  for (size_t n : batch_sizes) most = std::max(most, n);
  std::vector<float> images = ProbeImages(input_, most);
  std::vector<float> latents(most * latent, 0.0f);
  for (size_t n : batch_sizes) {
    if (n == 0) continue;
    absl::Status s = runner_->Encode(absl::MakeConstSpan(images.data(), n * per), n,
                                     absl::MakeSpan(latents.data(), n * latent));
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("warm-up at batch size ", n, ": ", s.message()));
    }
  }
  if (runner_->has_decoder()) {
    absl::Status s = runner_->Decode(absl::MakeConstSpan(latents.data(), latent), 1,
                                     absl::MakeSpan(images.data(), per));
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("warm-up of the decoder: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Servable::RunBatch(const Batch& batch) {
  const size_t per = input_.floats_per_image();
  const size_t latent = static_cast<size_t>(latent_size());
  const size_t n = batch.size;

  // One slice (the common case for a lone or a split request): no copies.
  if (batch.slices.size() == 1) {
    const BatchSlice& s = batch.slices[0];
    auto* t = static_cast<InferenceTask*>(s.task);
    auto images = absl::MakeConstSpan(t->inputs().data() + s.begin * per, n * per);
    auto embeddings = absl::MakeSpan(t->latents().data() + s.begin * latent, n * latent);
    if (!t->reconstruct()) return runner_->Encode(images, n, embeddings);
    std::vector<float> z(n * latent);
    absl::Status st = runner_->EncodeWithLatents(images, n, embeddings, absl::MakeSpan(z));
    if (!st.ok()) return st;
    return runner_->Decode(z, n,
                           absl::MakeSpan(t->reconstructions().data() + s.begin * per, n * per));
  }

  std::vector<float> images(n * per);
  size_t offset = 0;
  size_t reconstruct_items = 0;
  for (const BatchSlice& s : batch.slices) {
    auto* t = static_cast<InferenceTask*>(s.task);
    std::memcpy(images.data() + offset * per, t->inputs().data() + s.begin * per,
                s.count * per * sizeof(float));
    offset += s.count;
    if (t->reconstruct()) reconstruct_items += s.count;
  }
  // One forward pass for the whole batch; the encoder's latents are kept
  // only when some slice is to be reconstructed.
  std::vector<float> embeddings(n * latent);
  std::vector<float> latents(reconstruct_items > 0 ? n * latent : 0);
  absl::Status st = reconstruct_items > 0
                        ? runner_->EncodeWithLatents(images, n, absl::MakeSpan(embeddings),
                                                     absl::MakeSpan(latents))
                        : runner_->Encode(images, n, absl::MakeSpan(embeddings));
  if (!st.ok()) return st;
  offset = 0;
  for (const BatchSlice& s : batch.slices) {
    auto* t = static_cast<InferenceTask*>(s.task);
    std::memcpy(t->latents().data() + s.begin * latent, embeddings.data() + offset * latent,
                s.count * latent * sizeof(float));
    offset += s.count;
  }
  if (reconstruct_items == 0) return absl::OkStatus();

  // Decode only the Reconstruct slices, as one batch.
  std::vector<float> z;
  z.reserve(reconstruct_items * latent);
  offset = 0;
  for (const BatchSlice& s : batch.slices) {
    auto* t = static_cast<InferenceTask*>(s.task);
    if (t->reconstruct()) {
      const float* src = latents.data() + offset * latent;
      z.insert(z.end(), src, src + s.count * latent);
    }
    offset += s.count;
  }
  images.resize(reconstruct_items * per);
  st = runner_->Decode(z, reconstruct_items, absl::MakeSpan(images));
  if (!st.ok()) return st;
  offset = 0;
  for (const BatchSlice& s : batch.slices) {
    auto* t = static_cast<InferenceTask*>(s.task);
    if (!t->reconstruct()) continue;
    std::memcpy(t->reconstructions().data() + s.begin * per, images.data() + offset * per,
                s.count * per * sizeof(float));
    offset += s.count;
  }
  return absl::OkStatus();
}

}  // namespace latentsearch::encoder

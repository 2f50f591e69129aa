#include "services/encoder/model_registry.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/base/file.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/image/preprocess.h"
#include "common/model/checkpoint_proto.h"
#include "common/model/model.h"
#include "services/encoder/precision_trial.h"
#include "services/encoder/preprocess.h"

namespace latentsearch::encoder {
namespace {

constexpr size_t kMaxReserve = size_t{64} << 20;

bool IsLowerHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Loaded(const RegistrySnapshot& snap) {
  std::vector<std::string> parts;
  for (const auto& [name, list] : snap.models) {
    std::vector<std::string> versions;
    for (const auto& s : list) versions.push_back(absl::StrCat("v", s->version()));
    parts.push_back(absl::StrCat(name, " ", absl::StrJoin(versions, ", ")));
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, "; ");
}

std::string Describe(const model::CheckpointMetadata& m) {
  return absl::StrCat(m.model_name, " v", m.version, " (", m.architecture, ", latent ",
                      m.latent_size, ", ", m.input_shape.height, "x", m.input_shape.width, "x",
                      m.input_shape.channels, ")");
}

}  // namespace

// ---------------------------------------------------------------------------
// Metadata and the receiver.

absl::Status ValidateMetadata(model::CheckpointMetadata* m) {
  if (m->model_name.empty()) m->model_name = "default";
  LS_RETURN_IF_ERROR(model::ValidateModelName(m->model_name));
  if (absl::Status s = model::ValidateSpec(m->spec()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint metadata: ", s.message()));
  }
  const model::ModelSpec spec = model::WithDefaults(m->spec());
  m->architecture = spec.architecture;
  m->latent_size = spec.latent_size;
  m->input_shape = spec.input;
  if (absl::Status s = image::ValidateNormalization(m->normalization, spec.input.channels);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint metadata: ", s.message()));
  }
  if (!IsLowerHex64(m->sha256)) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint metadata: sha256 '", m->sha256,
                     "' is not 64 lower-case hex digits (the SHA-256 of the weights)"));
  }
  if (m->size_bytes == 0) {
    return absl::InvalidArgumentError(
        "checkpoint metadata: size_bytes is 0; expected the length of the weights");
  }
  return absl::OkStatus();
}

absl::Status CheckpointReceiver::Add(const v1::CheckpointChunk& chunk) {
  ++messages_;
  switch (chunk.payload_case()) {
    case v1::CheckpointChunk::kMetadata: {
      if (have_metadata_) {
        return absl::InvalidArgumentError(
            absl::StrCat("message ", messages_,
                         " is a second metadata message; a PushCheckpoint "
                         "stream has exactly one, first"));
      }
      model::CheckpointMetadata m = model::CheckpointMetadataFromProto(chunk.metadata());
      LS_RETURN_IF_ERROR(ValidateMetadata(&m));
      if (m.size_bytes > max_bytes_) {
        return absl::ResourceExhaustedError(absl::StrCat("the checkpoint's weights are ",
                                                         m.size_bytes,
                                                         " bytes; this encoder accepts at "
                                                         "most ",
                                                         max_bytes_, " (--max_checkpoint_bytes)"));
      }
      checkpoint_.metadata = std::move(m);
      checkpoint_.weights.reserve(
          static_cast<size_t>(std::min<uint64_t>(checkpoint_.metadata.size_bytes, kMaxReserve)));
      hash_ = std::make_unique<model::Sha256>();
      have_metadata_ = true;
      return absl::OkStatus();
    }
    case v1::CheckpointChunk::kData: {
      if (!have_metadata_) {
        return absl::InvalidArgumentError(
            absl::StrCat("message ", messages_,
                         " carries data before any metadata; a PushCheckpoint "
                         "stream starts with one metadata message"));
      }
      const std::string& data = chunk.data();
      const uint64_t have = checkpoint_.weights.size();
      if (have + data.size() > checkpoint_.metadata.size_bytes) {
        return absl::DataLossError(absl::StrCat(
            "the stream carries more than the announced ", checkpoint_.metadata.size_bytes,
            " bytes of weights (", have + data.size(), " by message ", messages_, ")"));
      }
      checkpoint_.weights.append(data);
      hash_->Update(data);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("message ", messages_, " is empty; expected metadata or data"));
  }
}

absl::StatusOr<model::Checkpoint> CheckpointReceiver::Finish() {
  if (!have_metadata_) {
    return absl::InvalidArgumentError(
        "the PushCheckpoint stream ended without metadata; send one metadata message, "
        "then the weights");
  }
  const uint64_t want = checkpoint_.metadata.size_bytes;
  if (checkpoint_.weights.size() < want) {
    return absl::DataLossError(absl::StrCat("truncated checkpoint: the stream ended after ",
                                            checkpoint_.weights.size(), " of ", want,
                                            " bytes of weights"));
  }
  const std::string digest = hash_->HexDigest();
  hash_.reset();
  if (digest != checkpoint_.metadata.sha256) {
    return absl::DataLossError(absl::StrCat("checksum mismatch: the weights hash to ", digest,
                                            " but the metadata says ",
                                            checkpoint_.metadata.sha256));
  }
  return std::move(checkpoint_);
}

// ---------------------------------------------------------------------------
// The registry.

ModelRegistry::ModelRegistry(const ModelRegistryOptions& options)
    : options_(options), snapshot_(std::make_shared<const RegistrySnapshot>()) {}

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Create(
    const ModelRegistryOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("the model registry needs a data_dir");
  }
  if (options.keep_versions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_versions is ", options.keep_versions, "; expected at least 1"));
  }
  if (!options.factory || options.scheduler == nullptr) {
    return absl::InvalidArgumentError("the model registry needs a factory and a scheduler");
  }
  std::unique_ptr<ModelRegistry> r(new ModelRegistry(options));
  LS_ASSIGN_OR_RETURN(r->store_,
                      model::CheckpointStore::Open(base::JoinPath(options.data_dir, "models")));
  LS_RETURN_IF_ERROR(r->Restore());
  r->loader_ = std::thread([p = r.get()] { p->LoaderLoop(); });
  return r;
}

ModelRegistry::~ModelRegistry() { Shutdown(); }

std::shared_ptr<const RegistrySnapshot> ModelRegistry::snapshot() const {
  return std::atomic_load(&snapshot_);
}

absl::StatusOr<std::shared_ptr<Servable>> ModelRegistry::Resolve(absl::string_view name,
                                                                 uint64_t version) const {
  std::shared_ptr<const RegistrySnapshot> snap = snapshot();
  if (snap->empty()) {
    return absl::UnavailableError(
        "no model is loaded yet: push a checkpoint to this encoder (PushCheckpoint, e.g. "
        "from the trainer's --push_to) and retry");
  }
  const std::string n = name.empty() ? "default" : std::string(name);
  auto it = snap->models.find(n);
  if (it == snap->models.end() || it->second.empty()) {
    return absl::NotFoundError(
        absl::StrCat("model '", n, "' is not loaded; loaded: ", Loaded(*snap)));
  }
  if (version == 0) return it->second.front();
  for (const auto& s : it->second) {
    if (s->version() == version) return s;
  }
  std::vector<std::string> versions;
  for (const auto& s : it->second) versions.push_back(absl::StrCat(s->version()));
  return absl::NotFoundError(absl::StrCat(
      "model '", n, "' version ", version,
      " is not loaded; loaded versions: ", absl::StrJoin(versions, ", "), " (0 = the newest)"));
}

absl::StatusOr<std::shared_ptr<Servable>> ModelRegistry::Load(
    const model::Checkpoint& checkpoint, const model::PrecisionChoice* stored) {
  LS_ASSIGN_OR_RETURN(std::unique_ptr<ModelRunner> runner, options_.factory(checkpoint));
  if (runner->spec().latent_size != checkpoint.metadata.latent_size ||
      runner->spec().input != checkpoint.metadata.input_shape) {
    return absl::InternalError(
        absl::StrCat("the loaded model's spec differs from ", Describe(checkpoint.metadata)));
  }
  model::PrecisionChoice choice;
  if (stored != nullptr && options_.precision == model::Precision::kAuto &&
      (stored->chosen == model::Precision::kFloat32 || runner->supports_bf16())) {
    choice = *stored;
    LS_RETURN_IF_ERROR(runner->SetPrecision(choice.chosen));
  } else {
    if (stored != nullptr && options_.precision != model::Precision::kAuto &&
        stored->chosen != options_.precision) {
      LOG(WARNING) << Describe(checkpoint.metadata) << " computed in "
                   << model::PrecisionName(stored->chosen)
                   << " before; --precision=" << model::PrecisionName(options_.precision)
                   << " now: its new vectors differ slightly from those made before";
    }
    ServingTrialOptions t;
    t.requested = options_.precision;
    t.probe_images = options_.probe_images;
    t.batch_size = options_.trial_batch_size;
    t.timer = options_.precision_timer;
    t.now = absl::Now();
    LS_ASSIGN_OR_RETURN(choice, ChooseServingPrecision(*runner, InputSpecOf(checkpoint.metadata),
                                                       checkpoint.metadata.latent_size, t));
  }
  LOG(INFO) << Describe(checkpoint.metadata) << " computes in "
            << model::DescribeChoice(choice, "batch");
  std::shared_ptr<Servable> servable = Servable::Create(checkpoint.metadata, std::move(runner),
                                                        options_.scheduler, std::move(choice));
  LS_RETURN_IF_ERROR(servable->Warmup(options_.warmup_batch_sizes));
  return servable;
}

std::vector<std::shared_ptr<Servable>> ModelRegistry::Publish(std::shared_ptr<Servable> servable) {
  auto next = std::make_shared<RegistrySnapshot>(*snapshot());
  std::vector<std::shared_ptr<Servable>>& list = next->models[servable->name()];
  auto pos = std::find_if(list.begin(), list.end(),
                          [&](const auto& s) { return s->version() < servable->version(); });
  list.insert(pos, std::move(servable));
  std::vector<std::shared_ptr<Servable>> evicted;
  const size_t keep = static_cast<size_t>(options_.keep_versions);
  while (list.size() > keep) {
    evicted.push_back(list.back());
    list.pop_back();
  }
  std::atomic_store(&snapshot_, std::shared_ptr<const RegistrySnapshot>(std::move(next)));
  return evicted;
}

absl::Status ModelRegistry::Restore() {
  const std::string& root = store_->root();
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string n = entry.path().filename().string();
    if (entry.is_directory() && model::ValidateModelName(n).ok()) names.push_back(n);
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("listing '", root, "': ", ec.message()));
  }
  std::sort(names.begin(), names.end());
  std::lock_guard<std::mutex> l(push_mu_);
  for (const std::string& name : names) {
    std::vector<uint64_t> versions = store_->Versions(name);
    int loaded = 0;
    for (auto it = versions.rbegin(); it != versions.rend() && loaded < options_.keep_versions;
         ++it) {
      const std::string path = store_->PathFor(name, *it);
      const absl::Time start = absl::Now();
      absl::StatusOr<model::Checkpoint> c = model::ReadCheckpointFile(path);
      absl::Status s = c.status();
      std::shared_ptr<Servable> servable;
      if (s.ok()) s = ValidateMetadata(&c->metadata);
      if (s.ok() && (c->metadata.model_name != name || c->metadata.version != *it)) {
        s = absl::DataLossError(
            absl::StrCat("'", path, "' holds ", c->metadata.model_name, " v", c->metadata.version));
      }
      std::optional<model::PrecisionChoice> stored;
      if (s.ok()) {
        if (absl::StatusOr<std::string> text = base::ReadFile(PrecisionPath(name, *it));
            text.ok()) {
          absl::StatusOr<model::PrecisionChoice> parsed = model::ParseChoice(*text);
          if (parsed.ok()) {
            stored = *std::move(parsed);
          } else {
            LOG(WARNING) << "'" << PrecisionPath(name, *it)
                         << "' unreadable, choosing the precision again: " << parsed.status();
          }
        }
      }
      if (s.ok()) {
        absl::StatusOr<std::shared_ptr<Servable>> loaded_servable =
            Load(*c, stored ? &*stored : nullptr);
        s = loaded_servable.status();
        if (s.ok()) servable = *std::move(loaded_servable);
      }
      if (!s.ok()) {
        restore_errors_.push_back(absl::StrCat("'", path, "': ", s.ToString()));
        LOG(WARNING) << "not restored (trying the next older version): " << restore_errors_.back();
        continue;
      }
      LOG(INFO) << absl::StrFormat("restored %s from '%s' in %.2f s on %s", Describe(c->metadata),
                                   path, absl::ToDoubleSeconds(absl::Now() - start),
                                   servable->device());
      if (!stored || stored->chosen != servable->precision().chosen) StorePrecision(*servable);
      Publish(std::move(servable));
      ++loaded;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PushResult> ModelRegistry::Push(model::Checkpoint checkpoint) {
  const std::string what =
      absl::StrCat("model '", checkpoint.metadata.model_name, "' version ",
                   checkpoint.metadata.version, " (", checkpoint.weights.size(), " bytes)");
  absl::StatusOr<PushResult> r = Install(std::move(checkpoint));
  if (!r.ok()) {
    LOG(WARNING) << "push of " << what << " refused; still serving " << Loaded(*snapshot()) << ": "
                 << r.status();
  }
  return r;
}

absl::StatusOr<PushResult> ModelRegistry::Install(model::Checkpoint c) {
  const absl::Time start = absl::Now();
  {
    std::lock_guard<std::mutex> l(loader_mu_);
    if (stopping_) return absl::UnavailableError("the encoder is shutting down");
  }
  LS_RETURN_IF_ERROR(ValidateMetadata(&c.metadata));
  LS_RETURN_IF_ERROR(model::VerifyWeights(c.metadata, c.weights, "the pushed checkpoint"));
  model::CheckpointMetadata& m = c.metadata;

  std::lock_guard<std::mutex> l(push_mu_);
  std::shared_ptr<const RegistrySnapshot> snap = snapshot();
  std::vector<std::shared_ptr<Servable>> held;
  if (auto it = snap->models.find(m.model_name); it != snap->models.end()) held = it->second;
  if (m.version != 0) {
    for (const auto& s : held) {
      if (s->version() != m.version) continue;
      if (s->metadata().sha256 == m.sha256) {
        PushResult r;
        r.metadata = s->metadata();
        r.already_present = true;
        r.load_seconds = absl::ToDoubleSeconds(absl::Now() - start);
        return r;
      }
      return absl::AlreadyExistsError(
          absl::StrCat("model '", m.model_name, "' version ", m.version,
                       " is already held with different weights (SHA-256 ", s->metadata().sha256,
                       "); push it as a new version (or version 0 for the next one)"));
    }
  } else {
    uint64_t highest = 0;
    for (const auto& s : held) highest = std::max(highest, s->version());
    for (uint64_t v : store_->Versions(m.model_name)) highest = std::max(highest, v);
    m.version = highest + 1;
  }
  if (held.size() >= static_cast<size_t>(options_.keep_versions) &&
      m.version < held.back()->version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", m.model_name, "' version ", m.version, " is older than every kept version (",
        held.back()->version(), "..", held.front()->version(), ", --keep_versions ",
        options_.keep_versions, "): it would be evicted at once"));
  }

  LS_ASSIGN_OR_RETURN(std::shared_ptr<Servable> servable, Load(c));
  LS_RETURN_IF_ERROR(base::MakeDirs(base::JoinPath(store_->root(), m.model_name)));
  LS_RETURN_IF_ERROR(model::WriteCheckpointFile(store_->PathFor(m.model_name, m.version), c));
  StorePrecision(*servable);
  const std::string device = servable->device();
  Evicted(Publish(std::move(servable)));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  LOG(INFO) << absl::StrFormat("loaded %s in %.2f s on %s; now serving %s", Describe(m), seconds,
                               device, Loaded(*snapshot()));
  {
    std::lock_guard<std::mutex> ll(loader_mu_);
    if (listener_) listener_(true);
  }
  PushResult r;
  r.metadata = m;
  r.load_seconds = seconds;
  return r;
}

std::string ModelRegistry::PrecisionPath(const std::string& name, uint64_t version) const {
  return store_->PathFor(name, version) + ".precision";
}

void ModelRegistry::StorePrecision(const Servable& servable) {
  const std::string path = PrecisionPath(servable.name(), servable.version());
  if (absl::Status s =
          base::WriteFileAtomically(path, model::SerializeChoice(servable.precision()));
      !s.ok()) {
    LOG(WARNING) << "the precision choice of " << servable.name() << " v" << servable.version()
                 << " was not stored (a restart chooses again): " << s;
  }
}

void ModelRegistry::Evicted(const std::vector<std::shared_ptr<Servable>>& evicted) {
  for (const auto& e : evicted) {
    const std::string path = store_->PathFor(e->name(), e->version());
    std::error_code ec;
    std::filesystem::remove(PrecisionPath(e->name(), e->version()), ec);
    std::filesystem::remove(path, ec);
    if (ec) {
      LOG(WARNING) << "evicted " << e->name() << " v" << e->version() << " but removing '" << path
                   << "' failed (the file stays; a restart may load it again): " << ec.message();
    } else {
      LOG(INFO) << "evicted " << e->name() << " v" << e->version();
    }
  }
}

void ModelRegistry::PushAsync(model::Checkpoint checkpoint,
                              std::function<void(absl::StatusOr<PushResult>)> done) {
  {
    std::lock_guard<std::mutex> l(loader_mu_);
    if (!stopping_) {
      pending_.push_back({std::move(checkpoint), std::move(done)});
      loader_cv_.notify_one();
      return;
    }
  }
  done(absl::UnavailableError("the encoder is shutting down"));
}

void ModelRegistry::SetReadinessListener(std::function<void(bool)> listener) {
  std::lock_guard<std::mutex> l(loader_mu_);
  listener_ = std::move(listener);
  if (listener_) listener_(!snapshot()->empty());
}

void ModelRegistry::LoaderLoop() {
  if (options_.on_loader_start) options_.on_loader_start();
  for (;;) {
    PendingPush job;
    {
      std::unique_lock<std::mutex> l(loader_mu_);
      loader_cv_.wait(l, [this] { return !pending_.empty() || stopping_; });
      if (pending_.empty()) return;
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    if (job.done) job.done(Push(std::move(job.checkpoint)));
  }
}

void ModelRegistry::Shutdown() {
  std::deque<PendingPush> dropped;
  {
    std::lock_guard<std::mutex> l(loader_mu_);
    stopping_ = true;
    dropped.swap(pending_);
    loader_cv_.notify_all();
  }
  if (!dropped.empty()) {
    LOG(WARNING) << "shutting down: " << dropped.size()
                 << " queued push(es) refused with UNAVAILABLE before they ran";
  }
  for (PendingPush& p : dropped) {
    if (p.done) p.done(absl::UnavailableError("the encoder shut down before the push ran"));
  }
  if (loader_.joinable()) loader_.join();
}

}  // namespace latentsearch::encoder

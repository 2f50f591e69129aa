#include "clients/cli/train.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "clients/cli/client_flags.h"
#include "clients/cli/dataset_flags.h"
#include "clients/cli/json.h"
#include "clients/cli/model_ref.h"
#include "clients/cli/pipeline_flags.h"
#include "clients/cli/progress.h"
#include "common/base/json_quote.h"
#include "common/base/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "latentsearch/v1/trainer.grpc.pb.h"
#include "services/trainer/training_defaults.h"

namespace {

// The trainer's defaults as the help texts spell them: 1e-3 as "1e-3"
// ("%g" gives 0.001, "%e" 1e-03) and 2000 as "2,000".
std::string ShortExp(double v) {
  return absl::StrReplaceAll(absl::StrFormat("%.0e", v), {{"e-0", "e-"}, {"e+0", "e"}});
}
std::string Thousands(uint64_t v) {
  std::string digits = absl::StrCat(v);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

namespace td = ::latentsearch::trainer;

}  // namespace

ABSL_FLAG(std::string, architecture, "",
          "train: conv (default), seed, resnet or resnet_small (for --objective=contrastive).");
ABSL_FLAG(uint32_t, latent, 0, "train: embedding length (0 = the architecture's default).");
ABSL_FLAG(uint32_t, epochs, 0,
          absl::StrCat("train: passes over the data (0 = ", td::kDefaultEpochs, ")."));
ABSL_FLAG(uint32_t, batch_size, 0,
          absl::StrCat("train: images per step (0 = ", td::kDefaultBatchSize, ")."));
ABSL_FLAG(std::string, optimizer, "", "train: adamax (default), adam or adamw.");
ABSL_FLAG(double, lr, 0,
          absl::StrCat("train: learning rate (0 = ", ShortExp(td::kDefaultLearningRate), ")."));
ABSL_FLAG(std::string, objective, "", "train: reconstruction (default), denoising or contrastive.");
ABSL_FLAG(double, weight_decay, 0, "train: weight decay (decoupled with adamw; 0 = none).");
ABSL_FLAG(std::string, lr_schedule, "",
          absl::StrCat("train: constant (default) or warmup_cosine (",
                       td::kDefaultWarmupFraction * 100, "% linear warm-up, then a cosine to 0)."));
ABSL_FLAG(double, temperature, 0,
          absl::StrCat("train: contrastive NT-Xent temperature (0 = ", td::kDefaultTemperature,
                       ")."));
ABSL_FLAG(double, reconstruction_weight, 0,
          "train: contrastive: weight of an added reconstruction loss (0 = none; then the "
          "model cannot Reconstruct).");
// The views of --objective=contrastive; sent only when given (else the
// trainer's default, SimCLR's recipe).
ABSL_FLAG(double, min_crop_scale, -1,
          "train: contrastive views: smallest area fraction a random crop keeps, (0, 1] "
          "(default 0.2; 1 = no crop; docs/training.md's Fashion-MNIST runs use 0.5).");
ABSL_FLAG(double, jitter_probability, -1,
          "train: contrastive views: probability of colour jitter, [0, 1] (default 0.8).");
ABSL_FLAG(double, jitter_strength, -1,
          "train: contrastive views: brightness/contrast/saturation jitter, [0, 1) "
          "(default 0.4).");
ABSL_FLAG(double, flip_probability, -1,
          "train: contrastive views: probability of a horizontal flip, [0, 1] (default 0.5; "
          "0 also serves the embedding without mirror-averaging).");
ABSL_FLAG(double, grayscale_probability, -1,
          "train: contrastive views: probability of turning a colour view grey, [0, 1] "
          "(default 0.2).");
ABSL_FLAG(double, warmup_fraction, -1,
          absl::StrCat("train: warmup_cosine: fraction of the run the learning rate warms up over, "
                       "[0, ",
                       td::kMaxWarmupFraction, "] (default ", td::kDefaultWarmupFraction, ")."));
ABSL_FLAG(uint32_t, eval_images, 0,
          absl::StrCat("train: held-out labelled images for the per-epoch precision@10 (0 = ",
                       Thousands(td::kDefaultEvalImages), ")."));
ABSL_FLAG(uint32_t, train_threads, 0,
          "train: the trainer's intra-op threads for this job (0 = all cores).");
ABSL_FLAG(std::string, embedding, "",
          "train: what the model serves: latent (the encoder's output) or whitened (centred, "
          "PCA-whitened, unit length); default whitened for contrastive, else latent.");
ABSL_FLAG(double, time_budget, 0, "train: stop after this many seconds (0 = no limit).");
ABSL_FLAG(uint64_t, max_train_images, 0, "train: use at most this many images (0 = all).");
ABSL_FLAG(uint64_t, train_seed, 0, "train: seed of shuffling, split and initialisation.");
ABSL_FLAG(std::string, push_to, "",
          "train: extra encoder addresses (comma list) to push checkpoints to, besides the "
          "trainer's --push_to.");
ABSL_FLAG(std::string, checkpoint, "",
          "train: when to write checkpoints: best (default), every_epoch or end.");
ABSL_FLAG(bool, detach, false, "train: print the job id and return without following it.");

namespace latentsearch::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

// Installs the SIGINT handler for the lifetime of the object (then restores
// the previous one).
class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted = false;
    struct sigaction sa = {};
    sa.sa_handler = &OnSigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintGuard() { sigaction(SIGINT, &old_, nullptr); }

 private:
  struct sigaction old_ = {};
};

bool Finished(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED || s == v1::JOB_STATE_STOPPED;
}

}  // namespace

std::string JobStateLabel(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
      return "queued";
    case v1::JOB_STATE_RUNNING:
      return "running";
    case v1::JOB_STATE_SUCCEEDED:
      return "succeeded";
    case v1::JOB_STATE_FAILED:
      return "failed";
    case v1::JOB_STATE_STOPPED:
      return "stopped";
    case v1::JOB_STATE_INTERRUPTED:
      return "interrupted";
    default:
      return "unknown";
  }
}

namespace {

// Cancels `ctx` once `*detach` is set (if `detach` is not null). Polls the
// flag, which a signal handler sets and which cannot notify anything itself.
class DetachCanceller {
 public:
  DetachCanceller(grpc::ClientContext* ctx, const std::atomic<bool>* detach)
      : thread_([this, ctx, detach] {
          while (!done_.load()) {
            if (detach != nullptr && detach->load()) {
              ctx->TryCancel();
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {}
  ~DetachCanceller() { Stop(); }
  void Stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Shows the events of one WatchTraining stream: a progress bar and lines
// on `bar`, or (json) each event as a line of protobuf JSON on `out`; keeps
// what FollowJob returns in `result`.
class EventPrinter {
 public:
  EventPrinter(const std::string& job_id, std::ostream& out, ProgressLine* bar, bool json,
               FollowResult* result)
      : job_id_(job_id), out_(out), bar_(*bar), json_(json), result_(*result) {}

  void Show(const v1::TrainingEvent& ev) {
    if (json_) {
      std::string line;
      if (google::protobuf::util::MessageToJsonString(ev, &line, jopt_).ok()) {
        out_ << line << "\n" << std::flush;
      }
    }
    switch (ev.event_case()) {
      case v1::TrainingEvent::kStep:
        return Step(ev.step());
      case v1::TrainingEvent::kEpoch:
        return Epoch(ev.epoch());
      case v1::TrainingEvent::kCheckpoint:
        result_.last_checkpoint = ev.checkpoint().metadata().model();
        if (!json_) bar_.Print("checkpoint " + ModelText(result_.last_checkpoint) + " written");
        return;
      case v1::TrainingEvent::kPush:
        return Push(ev.push());
      case v1::TrainingEvent::kPrecision:
        if (!json_) bar_.Print(PrecisionLine(ev.precision()));
        return;
      case v1::TrainingEvent::kState:
        result_.state = ev.state().state();
        result_.message = ev.state().message();
        if (!json_) {
          // A finished job's last progress line (its ETA now stale) is
          // ended first, so the output ends on the job's outcome.
          if (Finished(result_.state)) bar_.Finish();
          bar_.Print(absl::StrCat("job ", job_id_, " ", JobStateLabel(result_.state),
                                  result_.message.empty() ? "" : ": ", result_.message));
        }
        return;
      default:
        return;
    }
  }

 private:
  void Step(const v1::StepEvent& s) {
    const int width = 20;
    const double frac = s.total_steps() > 0 ? static_cast<double>(s.step()) / s.total_steps() : 0;
    const int filled = static_cast<int>(std::lround(frac * width));
    bar_.Update(absl::StrFormat(
        "epoch %d [%s%s] step %d/%d  loss %.5f  %.0f img/s  ETA %s%s%s", s.epoch(),
        std::string(filled, '#'), std::string(width - filled, '.'), s.step(), s.total_steps(),
        s.loss(), s.images_per_second(), FormatEta(s.eta_seconds()), epoch_note_, RanksNote(s)));
  }

  // "  2 ranks (412 + 398 img/s)" for a job on a trainer group; empty for one process.
  static std::string RanksNote(const v1::StepEvent& s) {
    if (s.world_size() <= 1) return "";
    std::string each;
    for (double r : s.rank_images_per_second()) {
      absl::StrAppend(&each, each.empty() ? "" : " + ", absl::StrFormat("%.0f", r));
    }
    return absl::StrFormat("  %d ranks%s", s.world_size(),
                           each.empty() ? "" : absl::StrCat(" (", each, " img/s)"));
  }

  void Epoch(const v1::EpochEvent& e) {
    std::string line = absl::StrFormat("epoch %d: train loss %.5f", e.epoch(), e.train_loss());
    epoch_note_.clear();
    if (std::isfinite(e.validation_loss())) {
      absl::StrAppend(&line, absl::StrFormat(", validation loss %.5f", e.validation_loss()));
      absl::StrAppend(&epoch_note_, absl::StrFormat("  val %.5f", e.validation_loss()));
    }
    if (e.has_precision_at_10()) {
      absl::StrAppend(&line, absl::StrFormat(", k-NN P@10 %.3f", e.precision_at_10()));
      absl::StrAppend(&epoch_note_, absl::StrFormat("  P@10 %.3f", e.precision_at_10()));
    }
    if (e.has_precision_at_10_cosine()) {
      absl::StrAppend(&line, absl::StrFormat(" (cosine %.3f)", e.precision_at_10_cosine()));
    }
    absl::StrAppend(&line, absl::StrFormat(" (%.1f s)", e.seconds()));
    if (!json_) bar_.Print(line);
  }

  // "precision bf16 (auto: fp32 0.412 s/step, bf16 0.219 s/step; <why>)".
  static std::string PrecisionLine(const v1::PrecisionEvent& p) {
    std::string line = absl::StrCat("precision ", p.chosen(), " (", p.requested());
    if (p.measured()) {
      absl::StrAppend(&line, absl::StrFormat(": fp32 %.3f s/step, bf16 %.3f s/step",
                                             p.fp32_seconds_per_step(), p.bf16_seconds_per_step()));
    }
    return absl::StrCat(line, "; ", p.reason(), ")");
  }

  void Push(const v1::PushEvent& p) {
    if (p.ok()) result_.last_pushed = p.model();
    if (json_ || !(p.ok() || p.final())) return;
    bar_.Print(p.ok() ? absl::StrCat("pushed ", ModelText(p.model()), " to ", p.target())
                      : absl::StrCat("push of ", ModelText(p.model()), " to ", p.target(),
                                     " failed after ", p.attempt(), " attempts: ", p.error_code(),
                                     ": ", p.message()));
  }

  const std::string& job_id_;
  std::ostream& out_;
  ProgressLine& bar_;
  const bool json_;
  FollowResult& result_;
  google::protobuf::util::JsonPrintOptions jopt_;
  // The last epoch's validation loss and P@10, shown on the progress bar.
  std::string epoch_note_;
};

}  // namespace

absl::StatusOr<FollowResult> FollowJob(const Endpoint& trainer, const std::string& job_id,
                                       std::ostream& out, std::ostream& err, bool live, bool json,
                                       const std::atomic<bool>* detach) {
  auto stub = v1::Trainer::NewStub(trainer.channel);
  grpc::ClientContext ctx;  // no deadline: a job may run for hours
  v1::WatchTrainingRequest req;
  req.set_job_id(job_id);
  FollowResult result;
  DetachCanceller canceller(&ctx, detach);
  ProgressLine bar(&err, live);
  EventPrinter printer(job_id, out, &bar, json, &result);
  auto reader = stub->WatchTraining(&ctx, req);
  v1::TrainingEvent ev;
  while (reader->Read(&ev)) {
    printer.Show(ev);
    if (Finished(result.state)) break;
  }
  bar.Finish();
  if (Finished(result.state)) ctx.TryCancel();
  grpc::Status st = reader->Finish();
  canceller.Stop();
  if (detach != nullptr && detach->load() && !Finished(result.state)) {
    result.detached = true;
    return result;
  }
  if (!Finished(result.state) && !st.ok()) return RpcError(trainer, st);
  return result;
}

namespace {

// The enum value `value` names among `choices` (flag value -> enum); nullopt
// for "" (the trainer's default); INVALID_ARGUMENT listing the choices else.
template <typename E>
absl::StatusOr<std::optional<E>> ParseChoice(
    absl::string_view flag, const std::string& value,
    std::initializer_list<std::pair<absl::string_view, E>> choices) {
  if (value.empty()) return std::nullopt;
  std::vector<absl::string_view> names;
  for (const auto& [name, e] : choices) {
    if (name == value) return e;
    names.push_back(name);
  }
  const std::string last(names.back());
  names.pop_back();
  return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value, ": expected ",
                                                 absl::StrJoin(names, ", "), " or ", last));
}

// True when the flag `name` differs from its default (was given).
bool FlagGiven(absl::string_view name) {
  const absl::CommandLineFlag* f = absl::FindCommandLineFlag(name);
  return f != nullptr && f->CurrentValue() != f->DefaultValue();
}

}  // namespace

namespace {

// --dataset/--path/--split/--max_train_images.
absl::Status SetDatasetFromFlags(v1::TrainingConfig* c) {
  LS_ASSIGN_OR_RETURN(data::DatasetSpec spec, DatasetSpecFromFlags());
  v1::DatasetSpec* d = c->mutable_dataset();
  switch (spec.kind) {
    case data::DatasetKind::kCifar10:
      d->set_cifar10_dir(spec.path);
      break;
    case data::DatasetKind::kIdx:
      d->set_idx_dir(spec.path);
      break;
    case data::DatasetKind::kFolder:
      d->set_image_folder(spec.path);
      c->mutable_input_shape()->set_height(spec.folder.height);
      c->mutable_input_shape()->set_width(spec.folder.width);
      c->mutable_input_shape()->set_channels(spec.folder.channels);
      break;
  }
  // --split defaults to "all" for data-info and ingest; a training job
  // takes the training split unless --split names another one.
  const absl::CommandLineFlag* split_flag = absl::FindCommandLineFlag("split");
  const bool split_default =
      split_flag != nullptr && split_flag->CurrentValue() == split_flag->DefaultValue();
  d->set_split(split_default                      ? v1::SPLIT_TRAIN
               : spec.split == data::Split::kTest ? v1::SPLIT_TEST
               : spec.split == data::Split::kAll  ? v1::SPLIT_ALL
                                                  : v1::SPLIT_TRAIN);
  d->set_max_images(absl::GetFlag(FLAGS_max_train_images));
  return absl::OkStatus();
}

// The enum flags: --optimizer, --objective, --lr_schedule, --embedding,
// --checkpoint (each left unset when not given).
absl::Status SetChoicesFromFlags(v1::TrainingConfig* c) {
  LS_ASSIGN_OR_RETURN(auto optimizer,
                      ParseChoice<v1::Optimizer>("optimizer", absl::GetFlag(FLAGS_optimizer),
                                                 {{"adamax", v1::OPTIMIZER_ADAMAX},
                                                  {"adam", v1::OPTIMIZER_ADAM},
                                                  {"adamw", v1::OPTIMIZER_ADAMW}}));
  if (optimizer) c->set_optimizer(*optimizer);
  LS_ASSIGN_OR_RETURN(auto objective,
                      ParseChoice<v1::Objective>("objective", absl::GetFlag(FLAGS_objective),
                                                 {{"reconstruction", v1::OBJECTIVE_RECONSTRUCTION},
                                                  {"denoising", v1::OBJECTIVE_DENOISING},
                                                  {"contrastive", v1::OBJECTIVE_CONTRASTIVE}}));
  if (objective) c->set_objective(*objective);
  LS_ASSIGN_OR_RETURN(auto schedule, ParseChoice<v1::LrSchedule>(
                                         "lr_schedule", absl::GetFlag(FLAGS_lr_schedule),
                                         {{"constant", v1::LR_SCHEDULE_CONSTANT},
                                          {"warmup_cosine", v1::LR_SCHEDULE_WARMUP_COSINE}}));
  if (schedule) c->set_lr_schedule(*schedule);
  LS_ASSIGN_OR_RETURN(auto embedding,
                      ParseChoice<v1::EmbeddingKind>("embedding", absl::GetFlag(FLAGS_embedding),
                                                     {{"latent", v1::EMBEDDING_KIND_LATENT},
                                                      {"whitened", v1::EMBEDDING_KIND_WHITENED}}));
  if (embedding) c->set_embedding(*embedding);
  LS_ASSIGN_OR_RETURN(auto checkpoint, ParseChoice<v1::CheckpointPolicy>(
                                           "checkpoint", absl::GetFlag(FLAGS_checkpoint),
                                           {{"best", v1::CHECKPOINT_POLICY_BEST_VALIDATION},
                                            {"every_epoch", v1::CHECKPOINT_POLICY_EVERY_EPOCH},
                                            {"end", v1::CHECKPOINT_POLICY_END}}));
  if (checkpoint) c->set_checkpoint_policy(*checkpoint);
  return absl::OkStatus();
}

// Only the view flags given are sent (absent = the trainer's default);
// range errors come back from the trainer as INVALID_ARGUMENT naming the
// field.
void SetViewsFromFlags(v1::TrainingConfig* c) {
  const struct {
    const char* name;
    const absl::Flag<double>& flag;
    void (v1::ViewAugmentation::*set)(double);
  } view_flags[] = {
      {"min_crop_scale", FLAGS_min_crop_scale, &v1::ViewAugmentation::set_min_crop_scale},
      {"flip_probability", FLAGS_flip_probability, &v1::ViewAugmentation::set_flip_probability},
      {"jitter_probability", FLAGS_jitter_probability,
       &v1::ViewAugmentation::set_jitter_probability},
      {"jitter_strength", FLAGS_jitter_strength, &v1::ViewAugmentation::set_jitter_strength},
      {"grayscale_probability", FLAGS_grayscale_probability,
       &v1::ViewAugmentation::set_grayscale_probability},
  };
  for (const auto& v : view_flags) {
    if (FlagGiven(v.name)) (c->mutable_views()->*v.set)(absl::GetFlag(v.flag));
  }
}

}  // namespace

absl::StatusOr<v1::TrainingConfig> TrainingConfigFromFlags() {
  v1::TrainingConfig c;
  LS_RETURN_IF_ERROR(SetDatasetFromFlags(&c));
  LS_RETURN_IF_ERROR(SetChoicesFromFlags(&c));
  c.set_model_name(absl::GetFlag(FLAGS_model));
  c.set_architecture(absl::GetFlag(FLAGS_architecture));
  c.set_latent_size(absl::GetFlag(FLAGS_latent));
  c.set_epochs(absl::GetFlag(FLAGS_epochs));
  c.set_batch_size(absl::GetFlag(FLAGS_batch_size));
  c.set_learning_rate(absl::GetFlag(FLAGS_lr));
  c.set_weight_decay(absl::GetFlag(FLAGS_weight_decay));
  c.set_temperature(absl::GetFlag(FLAGS_temperature));
  c.set_reconstruction_weight(absl::GetFlag(FLAGS_reconstruction_weight));
  SetViewsFromFlags(&c);
  if (FlagGiven("warmup_fraction")) c.set_warmup_fraction(absl::GetFlag(FLAGS_warmup_fraction));
  c.set_eval_images(absl::GetFlag(FLAGS_eval_images));
  c.set_threads(absl::GetFlag(FLAGS_train_threads));
  const double budget = absl::GetFlag(FLAGS_time_budget);
  if (!std::isfinite(budget) || budget < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--time_budget=", budget, ": expected seconds >= 0"));
  }
  c.set_time_budget_seconds(budget);
  c.set_seed(absl::GetFlag(FLAGS_train_seed));
  for (absl::string_view t :
       absl::StrSplit(absl::GetFlag(FLAGS_push_to), ',', absl::SkipWhitespace())) {
    c.add_push_to(std::string(t));
  }
  return c;
}

namespace {

absl::Status Follow(const Endpoint& trainer, const std::string& job_id, const CommandContext& ctx) {
  SigintGuard guard;
  LS_ASSIGN_OR_RETURN(FollowResult r,
                      FollowJob(trainer, job_id, *ctx.out, *ctx.err, IsTerminal(ctx.err),
                                JsonFromFlags(), &g_interrupted));
  if (r.detached) {
    *ctx.err << "detached: job " << job_id << " keeps running on the trainer; 'latentsearch watch "
             << job_id << "' re-attaches, 'latentsearch stop " << job_id << "' stops it\n";
    return absl::OkStatus();
  }
  if (r.state == v1::JOB_STATE_FAILED) {
    return absl::AbortedError(absl::StrCat("training job ", job_id, " failed: ", r.message));
  }
  return absl::OkStatus();
}

// " (N ahead in the queue)" for a queued job's line, "" otherwise.
std::string QueueNote(uint32_t ahead) {
  return ahead > 0 ? absl::StrCat(" (", ahead, " ahead in the queue)") : "";
}

absl::Status RunTrain(const CommandContext& ctx) {
  if (!ctx.positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", ctx.positional[0], "'; flags are --name=value"));
  }
  LS_ASSIGN_OR_RETURN(v1::TrainingConfig config, TrainingConfigFromFlags());
  LS_ASSIGN_OR_RETURN(Endpoint trainer, DialFromFlags(Service::kTrainer));
  auto stub = v1::Trainer::NewStub(trainer.channel);
  grpc::ClientContext c;
  SetDeadline(trainer, &c);
  v1::StartTrainingRequest req;
  *req.mutable_config() = config;
  v1::StartTrainingResponse resp;
  LS_RETURN_IF_ERROR(RpcError(trainer, stub->StartTraining(&c, req, &resp)));
  if (!JsonFromFlags()) {
    *ctx.out << "job " << resp.job_id() << " " << JobStateLabel(resp.state())
             << QueueNote(resp.queue_position()) << "\n";
  } else if (absl::GetFlag(FLAGS_detach)) {
    *ctx.out << "{\"job_id\":" << base::JsonQuote(resp.job_id()) << ",\"state\":\""
             << JobStateLabel(resp.state()) << "\"}\n";
  }
  if (absl::GetFlag(FLAGS_detach)) return absl::OkStatus();
  return Follow(trainer, resp.job_id(), ctx);
}

absl::Status RunWatch(const CommandContext& ctx) {
  if (ctx.positional.size() > 1) {
    return absl::InvalidArgumentError("watch takes one job id (none = the running job)");
  }
  LS_ASSIGN_OR_RETURN(Endpoint trainer, DialFromFlags(Service::kTrainer));
  return Follow(trainer, ctx.positional.empty() ? "" : ctx.positional[0], ctx);
}

absl::Status RunStop(const CommandContext& ctx) {
  if (ctx.positional.size() != 1) {
    return absl::InvalidArgumentError("stop takes one job id, e.g. 'latentsearch stop job-000001'");
  }
  LS_ASSIGN_OR_RETURN(Endpoint trainer, DialFromFlags(Service::kTrainer));
  auto stub = v1::Trainer::NewStub(trainer.channel);
  grpc::ClientContext c;
  SetDeadline(trainer, &c);
  v1::StopTrainingRequest req;
  req.set_job_id(ctx.positional[0]);
  v1::StopTrainingResponse resp;
  LS_RETURN_IF_ERROR(RpcError(trainer, stub->StopTraining(&c, req, &resp)));
  *ctx.out << "job " << ctx.positional[0] << ": stop requested (state now "
           << JobStateLabel(resp.state()) << ")\n";
  return absl::OkStatus();
}

absl::Status RunResume(const CommandContext& ctx) {
  if (ctx.positional.size() != 1) {
    return absl::InvalidArgumentError(
        "resume takes one job id, e.g. 'latentsearch resume job-000001'");
  }
  LS_ASSIGN_OR_RETURN(Endpoint trainer, DialFromFlags(Service::kTrainer));
  auto stub = v1::Trainer::NewStub(trainer.channel);
  grpc::ClientContext c;
  SetDeadline(trainer, &c);
  v1::ResumeTrainingRequest req;
  req.set_job_id(ctx.positional[0]);
  v1::ResumeTrainingResponse resp;
  LS_RETURN_IF_ERROR(RpcError(trainer, stub->ResumeTraining(&c, req, &resp)));
  if (!JsonFromFlags()) {
    *ctx.out << "job " << ctx.positional[0] << " " << JobStateLabel(resp.state()) << ": "
             << resp.message() << QueueNote(resp.queue_position()) << "\n";
  } else if (absl::GetFlag(FLAGS_detach)) {
    *ctx.out << "{\"job_id\":" << base::JsonQuote(ctx.positional[0]) << ",\"state\":\""
             << JobStateLabel(resp.state()) << "\",\"resume_step\":" << resp.resume_step() << "}\n";
  }
  if (absl::GetFlag(FLAGS_detach)) return absl::OkStatus();
  return Follow(trainer, ctx.positional[0], ctx);
}

absl::Status RunJobs(const CommandContext& ctx) {
  LS_ASSIGN_OR_RETURN(Endpoint trainer, DialFromFlags(Service::kTrainer));
  auto stub = v1::Trainer::NewStub(trainer.channel);
  grpc::ClientContext c;
  SetDeadline(trainer, &c);
  v1::ListJobsResponse resp;
  LS_RETURN_IF_ERROR(RpcError(trainer, stub->ListJobs(&c, v1::ListJobsRequest(), &resp)));
  if (JsonFromFlags()) {
    std::string s;
    google::protobuf::util::JsonPrintOptions o;
    (void)google::protobuf::util::MessageToJsonString(resp, &s, o);
    *ctx.out << s << "\n";
    return absl::OkStatus();
  }
  *ctx.out << absl::StrFormat("%-12s  %-9s  %-6s  %12s  %-14s  %s\n", "job", "state", "epoch",
                              "step", "best val loss", "checkpoints");
  for (const v1::Job& j : resp.jobs()) {
    std::string cps;
    for (const v1::ModelRef& m : j.checkpoints()) {
      absl::StrAppend(&cps, cps.empty() ? "" : ", ", ModelText(m));
    }
    *ctx.out << absl::StrFormat("%-12s  %-9s  %6d  %5d/%-6d  %-14s  %s\n", j.job_id(),
                                JobStateLabel(j.state()), j.epoch(), j.step(), j.total_steps(),
                                std::isfinite(j.best_validation_loss())
                                    ? absl::StrFormat("%.5f", j.best_validation_loss())
                                    : "-",
                                cps);
  }
  return absl::OkStatus();
}

int Train(const CommandContext& ctx) { return ReportError(RunTrain(ctx), *ctx.err); }
int Watch(const CommandContext& ctx) { return ReportError(RunWatch(ctx), *ctx.err); }
int Stop(const CommandContext& ctx) { return ReportError(RunStop(ctx), *ctx.err); }
int Jobs(const CommandContext& ctx) { return ReportError(RunJobs(ctx), *ctx.err); }
int Resume(const CommandContext& ctx) { return ReportError(RunResume(ctx), *ctx.err); }

std::vector<std::string> TrainerFlags() { return ClientFlagNames({Service::kTrainer}); }

}  // namespace

Command TrainCommand() {
  Command c;
  c.name = "train";
  c.summary =
      "Start a training job on the trainer and follow it (live progress; Ctrl-C detaches, "
      "the job keeps running).";
  c.usage =
      "--dataset=cifar10|idx|folder --path=DIR [--split=train (default here)|test|all] "
      "[--architecture=conv] "
      "[--latent=N] [--epochs=N] [--batch_size=N] [--optimizer=adamax] [--lr=X] "
      "[--objective=reconstruction] [--weight_decay=X] [--lr_schedule=constant] "
      "[--temperature=X] [--reconstruction_weight=X] [--min_crop_scale=X] "
      "[--jitter_probability=X] [--jitter_strength=X] [--flip_probability=X] "
      "[--grayscale_probability=X] [--warmup_fraction=X] [--eval_images=N] "
      "[--train_threads=N] [--embedding=latent|whitened] [--time_budget=S] [--push_to=ADDR,...] "
      "[--model=NAME] [--detach]";
  c.flags = DatasetFlagNames();
  for (const char* f : {"model",
                        "architecture",
                        "latent",
                        "epochs",
                        "batch_size",
                        "optimizer",
                        "lr",
                        "objective",
                        "weight_decay",
                        "lr_schedule",
                        "temperature",
                        "reconstruction_weight",
                        "min_crop_scale",
                        "jitter_probability",
                        "jitter_strength",
                        "flip_probability",
                        "grayscale_probability",
                        "warmup_fraction",
                        "eval_images",
                        "train_threads",
                        "embedding",
                        "time_budget",
                        "max_train_images",
                        "train_seed",
                        "push_to",
                        "checkpoint",
                        "detach"}) {
    c.flags.emplace_back(f);
  }
  for (std::string& f : TrainerFlags()) c.flags.push_back(std::move(f));
  c.run = &Train;
  return c;
}

Command WatchCommand() {
  return Command{"watch",
                 "Re-attach to a training job: its events so far, then live progress until it "
                 "ends (Ctrl-C detaches).",
                 "[JOB] (none = the running job)", TrainerFlags(), &Watch};
}

Command StopCommand() {
  return Command{"stop", "Stop a training job (the last good checkpoint stays).", "JOB",
                 TrainerFlags(), &Stop};
}

Command ResumeCommand() {
  std::vector<std::string> flags = TrainerFlags();
  flags.emplace_back("detach");
  return Command{"resume",
                 "Continue an interrupted, failed or stopped training job from its newest "
                 "snapshot and follow it (Ctrl-C detaches).",
                 "JOB [--detach]", flags, &Resume};
}

Command JobsCommand() {
  return Command{"jobs", "List the trainer's jobs.", "[--json]", TrainerFlags(), &Jobs};
}

}  // namespace latentsearch::cli

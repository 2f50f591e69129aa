// The LibTorch half of training.h: the loop (Runner), the objectives'
// losses, evaluation and checkpoints. The optimisers are optimizers.h, the
// batch fillers batch_fill.h.
#include "services/trainer/training.h"

#include <time.h>
#include <torch/torch.h>

#include <cmath>
#include <deque>
#include <memory>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/crc32.h"
#include "common/base/status_macros.h"
#include "common/eval/knn_precision.h"
#include "common/model/autocast.h"
#include "common/model/torch_model.h"
#include "services/trainer/augment.h"
#include "services/trainer/batch_fill.h"
#include "services/trainer/distributed/collective.h"
#include "services/trainer/losses.h"
#include "services/trainer/optimizers.h"

namespace latentsearch::trainer {
namespace {

using torch::Tensor;

uint64_t Mix(uint64_t seed, uint64_t salt) { return MixSeed(seed, salt); }

double ProcessCpuSeconds() {
  timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Salts of the per-image seeds (MixSeed(seed, salt + ...)).
constexpr uint64_t kViewSalt = 1ULL << 40;
constexpr uint64_t kValidationViewSalt = 2ULL << 40;
constexpr uint64_t kCorruptSalt = 3ULL << 40;
constexpr uint64_t kValidationCorruptSalt = 4ULL << 40;

// SimCLR's projection head: Linear, BatchNorm1d, ReLU, Linear. Exists only
// while training (never part of a checkpoint).
class ProjectionHeadImpl : public torch::nn::Module {
 public:
  ProjectionHeadImpl(int64_t in, int64_t hidden, int64_t out, uint64_t seed)
      : fc1(register_module("fc1", torch::nn::Linear(in, hidden))),
        bn(register_module("bn", torch::nn::BatchNorm1d(hidden))),
        fc2(register_module("fc2", torch::nn::Linear(hidden, out))) {
    // Seeded (LibTorch's default initialisation draws from the global
    // generator): uniform ±1/sqrt(fan_in) as PyTorch's default.
    at::Generator gen = at::detail::createCPUGenerator(seed);
    torch::NoGradGuard no_grad;
    for (torch::nn::Linear* l : {&fc1, &fc2}) {
      const double bound = 1.0 / std::sqrt(static_cast<double>((*l)->weight.size(1)));
      (*l)->weight.uniform_(-bound, bound, gen);
      (*l)->bias.uniform_(-bound, bound, gen);
    }
  }
  Tensor forward(const Tensor& x) {
    return fc2->forward(torch::relu(bn->forward(fc1->forward(x))));
  }
  torch::nn::Linear fc1;
  torch::nn::BatchNorm1d bn;
  torch::nn::Linear fc2;
};
TORCH_MODULE(ProjectionHead);

// Where a run is (or resumes): the next batch of an epoch and the epoch's
// loss so far.
struct Position {
  uint32_t epoch = 1;  // 1-based.
  uint64_t batch = 0;  // Next batch (per rank) of the epoch, 0-based.
  double sum = 0;      // Sum of the epoch's batch losses × images so far.
  size_t seen = 0;     // Images (this rank's) so far.
};

// 64-bit FNV-1a over the bytes of every tensor (CPU copies).
uint64_t HashTensors(const std::vector<Tensor>& tensors) {
  uint64_t h = 1469598103934665603ULL;
  for (const Tensor& t : tensors) {
    Tensor c = t.detach().to(torch::kCPU).contiguous();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    const size_t n = static_cast<size_t>(c.numel()) * c.element_size();
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  }
  return h;
}

struct Runner {
  Runner(const TrainConfig& config, const data::Dataset& dataset,
         const TrainingCallbacks& callbacks, const std::string& resume)
      : c(config),
        d(dataset),
        cb(callbacks),
        now(callbacks.now ? callbacks.now : [] { return absl::Now(); }),
        resume_bytes(resume),
        group(callbacks.collective) {}

  const TrainConfig& c;
  const data::Dataset& d;
  const TrainingCallbacks& cb;
  std::function<absl::Time()> now;
  std::string resume_bytes;
  distributed::Collective* const group;  // nullptr = one process.
  std::vector<Tensor> params;            // What the optimiser updates.
  bool distributed() const { return group != nullptr && c.world_size > 1; }

  std::unique_ptr<model::Model> model;
  model::AutoencoderImpl* net = nullptr;
  ProjectionHead head{nullptr};
  torch::Device device{torch::kCPU};
  bool bf16 = false;
  std::vector<size_t> train, val, eval_subset;
  std::vector<float> buf, buf2;
  TrainingResult result;

  bool contrastive() const { return c.objective == Objective::kContrastive; }
  // The decoder is trained (and saved) unless contrastive without MSE.
  bool trains_decoder() const { return !contrastive() || c.reconstruction_weight > 0; }

  Tensor ToTensor(std::vector<float>& b, size_t n) {
    Tensor x = torch::from_blob(b.data(), {static_cast<int64_t>(n), c.model.input.channels,
                                           c.model.input.height, c.model.input.width});
    return device.is_cpu() ? x : x.to(device);
  }
  Tensor ToTensor(size_t n) { return ToTensor(buf, n); }

  void SetTraining(bool on) {
    net->train(on);
    if (head) head->train(on);
  }

  // The objective's loss on one batch already in buf (and buf2): the
  // batch's images are x (reconstruction), the clean targets and buf2 the
  // corrupted inputs (denoising), or the two views (contrastive).
  Tensor Loss(size_t n) {
    model::AutocastScope autocast(bf16, !device.is_cpu());
    switch (c.objective) {
      case Objective::kReconstruction: {
        Tensor x = ToTensor(n);
        return torch::mse_loss(net->forward(x).to(torch::kFloat), x);
      }
      case Objective::kDenoising: {
        Tensor clean = ToTensor(n);
        Tensor noisy = ToTensor(buf2, n);
        return torch::mse_loss(net->forward(noisy).to(torch::kFloat), clean);
      }
      case Objective::kContrastive: {
        // Both views in one pass: batch normalisation sees 2n images.
        Tensor x = torch::cat({ToTensor(n), ToTensor(buf2, n)}, 0);
        Tensor h = net->encode(x);
        Tensor z = head->forward(h).to(torch::kFloat);
        const int64_t nn = static_cast<int64_t>(n);
        Tensor loss = NtXentLoss(z.narrow(0, 0, nn), z.narrow(0, nn, nn), c.temperature);
        if (c.reconstruction_weight > 0) {
          loss =
              loss + c.reconstruction_weight * torch::mse_loss(net->decode(h).to(torch::kFloat), x);
        }
        return loss;
      }
    }
    return Tensor();
  }

  // Fills buf (and buf2) with batch [first, first + n) of `indices`.
  absl::Status Fill(const std::vector<size_t>& indices, size_t first, size_t n,
                    std::mt19937_64* flip_rng, bool validation, uint32_t epoch) {
    const size_t per = d.image_bytes();
    if (buf.size() < n * per) buf.resize(n * per);
    switch (c.objective) {
      case Objective::kReconstruction:
        return Gather(d, indices, first, n, &buf, flip_rng);
      case Objective::kDenoising:
        if (buf2.size() < n * per) buf2.resize(n * per);
        MakeCorrupted(d, indices, first, n, c.corruption, c.seed,
                      validation ? kValidationCorruptSalt : kCorruptSalt + (uint64_t{epoch} << 32),
                      flip_rng, buf.data(), buf2.data());
        return absl::OkStatus();
      case Objective::kContrastive:
        if (buf2.size() < n * per) buf2.resize(n * per);
        // Validation views are the same every epoch (comparable losses).
        MakeViews(d, indices, first, n, c.views, c.seed,
                  validation ? kValidationViewSalt : kViewSalt + (uint64_t{epoch} << 32),
                  buf.data(), buf2.data());
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  // The objective's loss over the validation images (NaN if none); for
  // contrastive in batches of batch_size (the same negatives per batch as
  // in training; a last batch of one image is left out).
  absl::StatusOr<double> Evaluate() {
    if (val.empty()) return std::numeric_limits<double>::quiet_NaN();
    torch::NoGradGuard no_grad;
    SetTraining(false);
    const size_t eb = static_cast<size_t>(contrastive() ? c.batch_size : c.eval_batch_size);
    double sum = 0;
    size_t counted = 0;
    for (size_t first = 0; first < val.size(); first += eb) {
      const size_t n = std::min(eb, val.size() - first);
      if (contrastive() && n < 2) break;
      LS_RETURN_IF_ERROR(Fill(val, first, n, nullptr, /*validation=*/true, 0));
      sum += Loss(n).item<double>() * static_cast<double>(n);
      counted += n;
    }
    SetTraining(true);
    if (counted == 0) return std::numeric_limits<double>::quiet_NaN();
    return sum / static_cast<double>(counted);
  }

  // k-NN precision@10 (L2) of eval_subset's raw pixels, once.
  absl::Status MeasurePixelPrecision() {
    if (eval_subset.size() < 11) return absl::OkStatus();
    const size_t per = d.image_bytes();
    std::vector<float> pixels(eval_subset.size() * per);
    std::vector<int32_t> labels(eval_subset.size());
    for (size_t i = 0; i < eval_subset.size(); ++i) {
      LS_RETURN_IF_ERROR(data::NormalizeRange(d, eval_subset[i], 1, data::Layout::kNHWC,
                                              absl::MakeSpan(pixels.data() + i * per, per)));
      labels[i] = d.labels[eval_subset[i]];
    }
    eval::KnnPrecisionOptions po;
    po.threads = std::max(1, c.threads);
    LS_ASSIGN_OR_RETURN(pixel_precision, eval::KnnPrecisionAtK(index::Metric::kL2, pixels, labels,
                                                               pixels, labels, per,
                                                               /*queries_are_base=*/true, po));
    return absl::OkStatus();
  }
  double pixel_precision = std::numeric_limits<double>::quiet_NaN();

  // k-NN precision@10 (L2, cosine) of the embeddings of eval_subset.
  absl::Status MeasurePrecision(EpochInfo* e) {
    e->pixel_precision_at_10 = pixel_precision;
    if (eval_subset.size() < 11) return absl::OkStatus();
    torch::NoGradGuard no_grad;
    SetTraining(false);
    const size_t per = d.image_bytes();
    const size_t eb = static_cast<size_t>(c.eval_batch_size);
    const size_t dim = static_cast<size_t>(c.model.latent_size);
    if (buf.size() < eb * per) buf.resize(eb * per);
    std::vector<float> emb(eval_subset.size() * dim);
    std::vector<int32_t> labels(eval_subset.size());
    for (size_t first = 0; first < eval_subset.size(); first += eb) {
      const size_t n = std::min(eb, eval_subset.size() - first);
      LS_RETURN_IF_ERROR(Gather(d, eval_subset, first, n, &buf, nullptr));
      Tensor z;
      {
        model::AutocastScope autocast(bf16, !device.is_cpu());
        z = net->embed(ToTensor(n));
      }
      z = z.to(torch::kFloat).to(torch::kCPU).contiguous();
      std::copy(z.data_ptr<float>(), z.data_ptr<float>() + n * dim, emb.begin() + first * dim);
    }
    SetTraining(true);
    for (size_t i = 0; i < eval_subset.size(); ++i) labels[i] = d.labels[eval_subset[i]];
    eval::KnnPrecisionOptions po;
    po.threads = std::max(1, c.threads);
    LS_ASSIGN_OR_RETURN(e->precision_at_10,
                        eval::KnnPrecisionAtK(index::Metric::kL2, emb, labels, emb, labels, dim,
                                              /*queries_are_base=*/true, po));
    LS_ASSIGN_OR_RETURN(e->precision_at_10_cosine,
                        eval::KnnPrecisionAtK(index::Metric::kCosine, emb, labels, emb, labels, dim,
                                              /*queries_are_base=*/true, po));
    return absl::OkStatus();
  }

  // Embedding::kWhitened: fits the model's embedding head to the latents
  // of the first whitening_images training images (in the split's seeded
  // order, unaugmented).
  absl::Status FitEmbeddingHead() {
    if (c.embedding != Embedding::kWhitened) return absl::OkStatus();
    torch::NoGradGuard no_grad;
    SetTraining(false);
    const size_t count = std::min(c.whitening_images, train.size());
    const size_t per = d.image_bytes();
    const size_t eb = static_cast<size_t>(c.eval_batch_size);
    if (buf.size() < eb * per) buf.resize(eb * per);
    std::vector<Tensor> parts;
    for (size_t first = 0; first < count; first += eb) {
      const size_t n = std::min(eb, count - first);
      LS_RETURN_IF_ERROR(Gather(d, train, first, n, &buf, nullptr));
      parts.push_back(net->pooled_latent(ToTensor(n), c.whitening_mirror).to(torch::kFloat));
    }
    SetTraining(true);
    Tensor latents = torch::cat(parts, 0);
    if (!latents.isfinite().all().item<bool>()) {
      return absl::AbortedError(
          "training diverged: the encoder's latents are not finite (try a lower "
          "learning_rate)");
    }
    auto [mean, projection] = model::FitWhitening(latents, c.whitening_shrinkage);
    net->SetEmbeddingHead(mean, projection, c.whitening_mirror);
    return absl::OkStatus();
  }

  absl::Status Checkpoint(uint32_t epoch, uint64_t step, double train_loss, double val_loss) {
    model::CheckpointMetadata m;
    m.architecture = c.model.architecture;
    m.latent_size = c.model.latent_size;
    m.input_shape = c.model.input;
    m.dataset = c.dataset_name;
    m.objective = ObjectiveName(c.objective);
    m.epoch = epoch;
    m.step = step;
    m.train_loss = train_loss;
    m.validation_loss = val_loss;
    m.created_at = now();
    m.encoder_parameters = model->encoder_parameters();
    m.decoder_parameters = trains_decoder() ? model->decoder_parameters() : 0;
    std::string weights;
    if (trains_decoder()) {
      LS_ASSIGN_OR_RETURN(weights, model->SerializeWeights());
    } else {
      LS_ASSIGN_OR_RETURN(weights, model->SerializeEncoderWeights());
    }
    ++result.checkpoints;
    if (!cb.on_checkpoint || c.rank != 0) return absl::OkStatus();
    return cb.on_checkpoint(model::MakeCheckpoint(std::move(m), std::move(weights)));
  }

  // The learning rate at `progress` in [0, 1] of the run.
  double LearningRate(double progress) const {
    if (c.lr_schedule == LrSchedule::kConstant) return c.learning_rate;
    progress = std::clamp(progress, 0.0, 1.0);
    const double wf = c.warmup_fraction;
    if (wf > 0 && progress < wf) return c.learning_rate * progress / wf;
    const double t = wf < 1 ? (progress - wf) / (1 - wf) : 1;
    return c.learning_rate * 0.5 * (1 + std::cos(M_PI * t));
  }

  // Run-wide progress, shared by Run's steps.
  TrainingPlan plan;
  std::unique_ptr<Optimizer> opt;
  absl::Time start;
  std::deque<std::pair<absl::Time, size_t>> window;  // (time, images) per step.
  uint64_t step = 0;
  double lr = 0;
  bool stopped = false;                                   // By should_stop.
  bool cut = false;                                       // By max_steps or the time budget.
  double best = std::numeric_limits<double>::infinity();  // The policy's metric.
  double last_epoch_train = std::numeric_limits<double>::quiet_NaN();
  double last_epoch_val = std::numeric_limits<double>::quiet_NaN();
  uint64_t step_at_epoch_end = 0;
  // Data parallelism: decisions and figures of the group's last all-gather.
  bool group_stop = false, group_cut = false;
  double group_elapsed = 0;
  std::vector<double> rank_ips;
  double local_ips = 0;
  distributed::AllreduceStats allreduce;
  uint64_t weights_hash = 0;

  absl::StatusOr<TrainingResult> Run() {
    LS_ASSIGN_OR_RETURN(params, BuildModel());
    LS_RETURN_IF_ERROR(CheckAgreement());
    plan = PlanTraining(c, d.size());
    SplitData();
    LS_RETURN_IF_ERROR(MeasurePixelPrecision());
    LS_RETURN_IF_ERROR(ChoosePrecision());
    opt = MakeOptimizer(c.optimizer, params, c.learning_rate, c.weight_decay);
    buf.resize(static_cast<size_t>(c.batch_size) * d.image_bytes());
    lr = c.learning_rate;
    LS_ASSIGN_OR_RETURN(Position pos, StartingPosition());
    window.emplace_back(start, 0);
    for (uint32_t epoch = pos.epoch; epoch <= static_cast<uint32_t>(c.epochs) && !stopped && !cut;
         ++epoch) {
      LS_ASSIGN_OR_RETURN(const bool ended,
                          RunEpoch(epoch, epoch == pos.epoch ? pos : Position{epoch}));
      if (!ended) break;
      LS_RETURN_IF_ERROR(Snapshot(Position{epoch + 1}));
    }
    LS_RETURN_IF_ERROR(FinalCheckpoint());
    result.stopped = stopped;
    return result;
  }

  // TrainConfig.precision: kFloat32 / kBFloat16 as asked, kAuto by
  // PrecisionTrial; with data parallelism rank 0's choice on every rank.
  // Sets bf16 and result.precision, then calls on_precision.
  absl::Status ChoosePrecision() {
    model::PrecisionChoice choice = model::FixedChoice(c.precision);
    if (c.precision == Precision::kAuto) {
      LS_ASSIGN_OR_RETURN(choice, PrecisionTrial());
    }
    if (distributed()) {
      std::string bytes = model::SerializeChoice(choice);
      LS_RETURN_IF_ERROR(group->BroadcastBytes(&bytes));
      LS_ASSIGN_OR_RETURN(choice, model::ParseChoice(bytes));
    }
    bf16 = choice.chosen == Precision::kBFloat16;
    result.precision = choice;
    if (cb.on_precision) cb.on_precision(choice);
    return absl::OkStatus();
  }

  // kAuto's trial (TrainConfig.precision): one untimed warm-up step and
  // precision_trial_steps timed steps per precision with a fresh optimiser,
  // each precision from the initial weights, which are restored after.
  // Local to this rank (no collective inside).
  absl::StatusOr<model::PrecisionChoice> PrecisionTrial() {
    model::PrecisionChoice choice;
    choice.measured = true;
    choice.trial_units = c.precision_trial_steps;
    const std::vector<size_t> order = EpochOrder(1);
    const size_t n = std::min(static_cast<size_t>(c.batch_size), order.size());
    choice.trial_batch = static_cast<int>(n);
    if (n == 0 || (contrastive() && n < 2)) {
      choice = model::FixedChoice(Precision::kFloat32);
      choice.requested = Precision::kAuto;
      choice.reason = "too few training images for a trial: fp32 kept";
      return choice;
    }
    const model::PrecisionTimer timer =
        cb.precision_timer ? cb.precision_timer : model::WallTimer();
    const std::vector<Tensor> initial = CloneState();
    std::vector<double> losses[2];
    for (Precision p : {Precision::kFloat32, Precision::kBFloat16}) {
      bf16 = p == Precision::kBFloat16;
      std::unique_ptr<Optimizer> o =
          MakeOptimizer(c.optimizer, params, c.learning_rate, c.weight_decay);
      std::vector<double>& l = losses[bf16 ? 1 : 0];
      LS_ASSIGN_OR_RETURN(double warm, TrialStep(*o, order, n, 0, p));
      l.push_back(warm);
      LS_ASSIGN_OR_RETURN(const double seconds, timer(p, [&]() -> absl::Status {
                            for (int i = 1; i <= c.precision_trial_steps; ++i) {
                              LS_ASSIGN_OR_RETURN(double x, TrialStep(*o, order, n, i, p));
                              l.push_back(x);
                            }
                            return absl::OkStatus();
                          }));
      (bf16 ? choice.bf16_seconds : choice.fp32_seconds) = seconds / c.precision_trial_steps;
      RestoreState(initial);
    }
    bf16 = false;
    choice.loss_difference = model::MaxRelativeLossDifference(losses[0], losses[1]);
    choice.bf16_safe = choice.loss_difference <= model::kTrainLossTolerance;
    model::DecidePrecision(
        &choice, absl::StrFormat("largest loss difference from fp32 %.3g%% (bound %.3g%%)",
                                 100 * choice.loss_difference, 100 * model::kTrainLossTolerance));
    choice.decided_at = now();
    return choice;
  }

  // One trial step (`i`: 0 = warm-up) on batch i of `order` (wrapping
  // around), in the precision bf16 says; the loss as measured.
  absl::StatusOr<double> TrialStep(Optimizer& o, const std::vector<size_t>& order, size_t n, int i,
                                   Precision p) {
    const size_t batches = std::max<size_t>(1, order.size() / n);
    LS_RETURN_IF_ERROR(Fill(order, (static_cast<size_t>(i) % batches) * n, n, nullptr,
                            /*validation=*/false, 1));
    o.ZeroGrad();
    Tensor loss = Loss(n);
    loss.backward();
    o.Step();
    const double l = loss.item<double>();
    return cb.perturb_trial_loss ? cb.perturb_trial_loss(p, i, l) : l;
  }

  // Copies of ModelState(), and putting them back (gradients dropped).
  std::vector<Tensor> CloneState() const {
    torch::NoGradGuard no_grad;
    std::vector<Tensor> out;
    for (const Tensor& t : ModelState()) out.push_back(t.detach().clone());
    return out;
  }
  void RestoreState(const std::vector<Tensor>& saved) {
    torch::NoGradGuard no_grad;
    std::vector<Tensor> state = ModelState();
    for (size_t i = 0; i < state.size(); ++i) state[i].copy_(saved[i]);
    for (Tensor& p : params) p.mutable_grad() = Tensor();
  }

  // Data parallelism: every rank must train the same model on the same data
  // (each reads its own copy); FAILED_PRECONDITION naming the first rank
  // that differs from rank 0 (or could not prepare the job at all:
  // follower.h sends its error in place of the description).
  absl::Status CheckAgreement() {
    if (!distributed()) return absl::OkStatus();
    const std::string mine = absl::StrCat(
        "model ", c.model.architecture, " latent ", c.model.latent_size, " input ",
        model::FormatInputShape(c.model.input), ", ",
        model->encoder_parameters() + model->decoder_parameters(), " parameters; data ", d.size(),
        " images, CRC-32 ", base::Crc32(d.pixels.data(), d.pixels.size()), "; batch ", c.batch_size,
        ", seed ", c.seed);
    LS_ASSIGN_OR_RETURN(std::vector<std::string> all, group->AllGatherStrings(mine));
    for (size_t r = 1; r < all.size(); ++r) {
      if (all[r] != all[0]) {
        return absl::FailedPreconditionError(absl::StrCat(
            "rank ", r, " cannot train with rank 0: rank ", r, ": ", all[r], "; rank 0: ", all[0]));
      }
    }
    return absl::OkStatus();
  }

  // Rank 0's initial weights everywhere, or the snapshot resumed from
  // (rank 0's, on every rank) restored; sets `start`.
  absl::StatusOr<Position> StartingPosition() {
    if (distributed()) LS_RETURN_IF_ERROR(group->BroadcastBytes(&resume_bytes));
    Position pos;
    double elapsed = 0;
    if (!resume_bytes.empty()) {
      LS_ASSIGN_OR_RETURN(pos, Restore(resume_bytes, &elapsed));
    } else if (distributed()) {
      LS_RETURN_IF_ERROR(group->Broadcast(ModelState()));
    }
    resume_bytes.clear();
    start = now() - absl::Seconds(elapsed);
    return pos;
  }

  // Every parameter and buffer of the model and the projection head.
  std::vector<Tensor> ModelState() const {
    std::vector<Tensor> t = net->parameters();
    for (const Tensor& b : net->buffers()) t.push_back(b);
    if (head) {
      for (const Tensor& p : head->parameters()) t.push_back(p);
      for (const Tensor& b : head->buffers()) t.push_back(b);
    }
    return t;
  }
  std::vector<Tensor> Buffers() const {
    std::vector<Tensor> t = net->buffers();
    if (head) {
      for (const Tensor& b : head->buffers()) t.push_back(b);
    }
    return t;
  }

  // on_snapshot (rank 0 only) with the whole state at `pos`.
  absl::Status Snapshot(const Position& pos) {
    if (!cb.on_snapshot || c.rank != 0) return absl::OkStatus();
    torch::serialize::OutputArchive a;
    a.write("format", torch::tensor(int64_t{1}));
    a.write("position",
            torch::tensor(std::vector<int64_t>{
                pos.epoch, static_cast<int64_t>(pos.batch), static_cast<int64_t>(pos.seen),
                static_cast<int64_t>(step), static_cast<int64_t>(step_at_epoch_end),
                static_cast<int64_t>(result.epochs_completed),
                static_cast<int64_t>(result.checkpoints), c.world_size}));
    a.write("values",
            torch::tensor(std::vector<double>{pos.sum, best, last_epoch_train, last_epoch_val,
                                              result.best_validation_loss, result.last_train_loss,
                                              absl::ToDoubleSeconds(now() - start), lr},
                          torch::kDouble));
    LS_ASSIGN_OR_RETURN(std::string weights, model->SerializeWeights());
    a.write("weights",
            torch::from_blob(weights.data(), {static_cast<int64_t>(weights.size())}, torch::kUInt8)
                .clone());
    if (head) {
      torch::serialize::OutputArchive h;
      head->save(h);
      a.write("head", h);
    }
    torch::serialize::OutputArchive o;
    opt->Save(o);
    a.write("optimizer", o);
    std::ostringstream out;
    a.save_to(out);
    return cb.on_snapshot(step, out.str());
  }

  // Restores Snapshot()'s state; the position to continue from.
  absl::StatusOr<Position> Restore(const std::string& bytes, double* elapsed) {
    torch::serialize::InputArchive a;
    Tensor format, position, values, weights;
    try {
      a.load_from(bytes.data(), bytes.size());
      a.read("format", format);
      a.read("position", position);
      a.read("values", values);
      a.read("weights", weights);
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat("the training snapshot does not load: ", e.what()));
    }
    if (format.item<int64_t>() != 1 || position.numel() != 8 || values.numel() != 8) {
      return absl::DataLossError("the training snapshot has an unknown format");
    }
    weights = weights.contiguous();
    LS_RETURN_IF_ERROR(model->LoadWeights(absl::string_view(
        static_cast<const char*>(weights.data_ptr()), static_cast<size_t>(weights.numel()))));
    try {
      if (head) {
        torch::serialize::InputArchive h;
        a.read("head", h);
        head->load(h);
      }
      torch::serialize::InputArchive o;
      a.read("optimizer", o);
      LS_RETURN_IF_ERROR(opt->Load(o));
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat("the training snapshot does not load: ", e.what()));
    }
    const auto p = position.accessor<int64_t, 1>();
    const auto v = values.accessor<double, 1>();
    Position pos{static_cast<uint32_t>(p[0]), static_cast<uint64_t>(p[1]), v[0],
                 static_cast<size_t>(p[2])};
    step = result.steps = static_cast<uint64_t>(p[3]);
    step_at_epoch_end = static_cast<uint64_t>(p[4]);
    result.epochs_completed = static_cast<uint32_t>(p[5]);
    result.checkpoints = static_cast<uint64_t>(p[6]);
    if (p[7] != c.world_size && pos.batch > 0) {
      // Another group size: continue at the first global batch this one
      // has not wholly consumed (at most one batch of images again).
      const uint64_t images = pos.batch * static_cast<uint64_t>(p[7]);
      pos.batch = images / static_cast<uint64_t>(c.world_size);
      const size_t seen = pos.batch * static_cast<size_t>(c.batch_size);
      pos.sum = pos.seen > 0 ? pos.sum / static_cast<double>(pos.seen) * seen : 0;
      pos.seen = seen;
    }
    best = v[1];
    last_epoch_train = v[2];
    last_epoch_val = v[3];
    result.best_validation_loss = v[4];
    result.last_train_loss = v[5];
    *elapsed = v[6];
    lr = v[7];
    opt->SetLearningRate(lr);
    return pos;
  }

  // The model (and the projection head of contrastive training) on its
  // device, in training mode; returns the parameters to optimise.
  absl::StatusOr<std::vector<Tensor>> BuildModel() {
    model::SetThreads(c.threads, c.blas_threads);
    model::ModelOptions mo;
    mo.formulation = c.formulation;
    mo.channels_last = c.channels_last;
    mo.seed = c.seed;
    mo.use_cuda_if_available = c.use_cuda_if_available;
    LS_ASSIGN_OR_RETURN(model, model::Model::Create(c.model, mo));
    net = model->impl().net.get();
    device = model->impl().device;
    result.device = device.str();
    bf16 = false;  // ChoosePrecision decides.
    std::vector<Tensor> params = net->parameters();
    if (contrastive()) {
      head = ProjectionHead(c.model.latent_size, c.projection_hidden, c.projection_dim,
                            Mix(c.seed, 7));
      head->to(device);
      for (const Tensor& p : head->parameters()) params.push_back(p);
    }
    SetTraining(true);
    return params;
  }

  // The seeded validation / training split, and the labelled validation
  // subset precision@10 is measured on.
  void SplitData() {
    std::vector<size_t> perm = data::SampleIndices(d.size(), d.size(), Mix(c.seed, 1));
    val.assign(perm.begin(), perm.begin() + plan.validation_images);
    train.assign(perm.begin() + plan.validation_images, perm.end());
    if (c.eval_images == 0) return;
    eval_subset.assign(val.begin(), val.begin() + std::min(c.eval_images, val.size()));
    for (size_t i : eval_subset) {
      if (d.labels[i] == data::kNoLabel) {
        eval_subset.clear();  // Unlabelled: precision is not measured.
        return;
      }
    }
  }

  // This rank's part of the epoch's seeded order: the whole order for one
  // process; else the order padded to a multiple of the ranks by wrapping
  // around, every world_size-th image from this rank's (DistributedSampler).
  std::vector<size_t> EpochOrder(uint32_t epoch) const {
    const std::vector<size_t> order_pos =
        data::SampleIndices(train.size(), train.size(), Mix(c.seed, 100 + epoch));
    const size_t world = static_cast<size_t>(std::max(1, c.world_size));
    const size_t rank = static_cast<size_t>(c.rank);
    const size_t per_rank = (train.size() + world - 1) / world;
    std::vector<size_t> order(per_rank);
    for (size_t i = 0; i < per_rank; ++i) {
      order[i] = train[order_pos[(rank + i * world) % train.size()]];
    }
    return order;
  }

  // One epoch's steps over the reshuffled training split from `pos`, then
  // EndEpoch. False when no epoch ended (stopped, or no step ran): the run
  // is over.
  absl::StatusOr<bool> RunEpoch(uint32_t epoch, Position pos) {
    const absl::Time epoch_start = now();
    const double epoch_cpu_start = ProcessCpuSeconds();
    const std::vector<size_t> order = EpochOrder(epoch);
    // Flips are drawn one per image in this rank's order: skip those of the
    // batches done before `pos`.
    std::mt19937_64 flip_rng(distributed() ? Mix(Mix(c.seed, 1000000 + epoch), 1 + c.rank)
                                           : Mix(c.seed, 1000000 + epoch));
    const size_t batch = static_cast<size_t>(c.batch_size);
    flip_rng.discard(std::min<uint64_t>(pos.batch * batch, order.size()));
    for (uint64_t b = pos.batch; b < plan.steps_per_epoch; ++b) {
      const absl::Time before = now();
      if (!Continue(before)) break;
      const size_t n = std::min(batch, order.size() - b * batch);
      // A contrastive batch of one image has no negatives: skip it.
      if (contrastive() && n < 2) continue;
      UpdateLearningRate(before);
      LS_ASSIGN_OR_RETURN(double l,
                          TrainStep(order, b * batch, n, c.augment ? &flip_rng : nullptr, epoch));
      LS_ASSIGN_OR_RETURN(l, AfterStep(l, n));
      pos.sum += l * n;
      pos.seen += n;
      ReportStep(epoch, l, b + 1 == plan.steps_per_epoch);
      if (c.snapshot_every_steps > 0 && step % c.snapshot_every_steps == 0 &&
          b + 1 < plan.steps_per_epoch) {
        LS_RETURN_IF_ERROR(Snapshot(Position{epoch, b + 1, pos.sum, pos.seen}));
      }
    }
    if (stopped || pos.seen == 0) return false;
    LS_RETURN_IF_ERROR(EndEpoch(epoch, pos.sum / pos.seen, epoch_start, epoch_cpu_start));
    return true;
  }

  // Whether the next step (starting at `before`) runs; sets stopped / cut.
  // With data parallelism the stop request and the time budget are the
  // group's decisions from the last step's all-gather (rank 0's clock), so
  // that every rank stops at the same step.
  bool Continue(absl::Time before) {
    const bool stop = distributed() ? group_stop : (cb.should_stop && cb.should_stop());
    if (stop) {
      stopped = true;
      return false;
    }
    const double elapsed = distributed() ? group_elapsed : absl::ToDoubleSeconds(before - start);
    if ((c.max_steps > 0 && step >= c.max_steps) ||
        (c.time_budget_seconds > 0 && elapsed >= c.time_budget_seconds)) {
      cut = true;
      return false;
    }
    return true;
  }

  // LrSchedule::kWarmupCosine: the rate of the next step, which starts at
  // `before`.
  void UpdateLearningRate(absl::Time before) {
    if (c.lr_schedule == LrSchedule::kConstant) return;
    double progress = static_cast<double>(step + 1) / static_cast<double>(plan.total_steps);
    if (c.time_budget_seconds > 0) {
      const double elapsed = distributed() ? group_elapsed : absl::ToDoubleSeconds(before - start);
      progress = std::max(progress, elapsed / c.time_budget_seconds);
    }
    lr = LearningRate(progress);
    opt->SetLearningRate(lr);
  }

  // One optimiser step on batch [first, first + n) of `order` (gradients
  // averaged over the ranks); this rank's loss.
  absl::StatusOr<double> TrainStep(const std::vector<size_t>& order, size_t first, size_t n,
                                   std::mt19937_64* flip_rng, uint32_t epoch) {
    LS_RETURN_IF_ERROR(Fill(order, first, n, flip_rng, /*validation=*/false, epoch));
    opt->ZeroGrad();
    Tensor loss = Loss(n);
    loss.backward();
    if (distributed()) {
      LS_RETURN_IF_ERROR(group->AverageGradients(params));
      allreduce = group->TakeStats();
    }
    opt->Step();
    ++step;
    return loss.item<double>();
  }

  // After a step: the rate window; with data parallelism one all-gather of
  // (loss, images/s, stop request, rank 0's elapsed time, weights hash)
  // that gives the group's mean loss and throughput and the decisions for
  // the next step. The group's loss; ABORTED when it is not finite.
  absl::StatusOr<double> AfterStep(double loss, size_t n) {
    const absl::Time t = now();
    window.emplace_back(t, n);
    while (window.size() > 21) window.pop_front();
    size_t imgs = 0;
    for (size_t i = 1; i < window.size(); ++i) imgs += window[i].second;
    const double secs = absl::ToDoubleSeconds(t - window.front().first);
    local_ips = secs > 0 ? imgs / secs : 0;
    if (c.verify_replicas) weights_hash = HashTensors(params);
    if (distributed()) {
      const bool stop = cb.should_stop && cb.should_stop();
      const std::vector<double> mine = {loss,
                                        local_ips,
                                        stop ? 1.0 : 0.0,
                                        absl::ToDoubleSeconds(t - start),
                                        static_cast<double>(weights_hash >> 32),
                                        static_cast<double>(weights_hash & 0xffffffffu)};
      LS_ASSIGN_OR_RETURN(std::vector<double> all, group->AllGather(mine));
      const size_t k = mine.size();
      double sum = 0;
      rank_ips.assign(static_cast<size_t>(c.world_size), 0);
      group_stop = false;
      for (int r = 0; r < c.world_size; ++r) {
        const double* v = all.data() + static_cast<size_t>(r) * k;
        sum += v[0];
        rank_ips[static_cast<size_t>(r)] = v[1];
        group_stop = group_stop || v[2] != 0;
        if (c.verify_replicas && (v[4] != all[4] || v[5] != all[5])) {
          return absl::InternalError(
              absl::StrCat("rank ", r, "'s weights differ from rank 0's after step ", step));
        }
      }
      group_elapsed = all[3];
      loss = sum / c.world_size;
    }
    if (!std::isfinite(loss)) {
      return absl::AbortedError(absl::StrCat("training diverged: loss is ", loss, " at step ", step,
                                             " (try a lower learning_rate)"));
    }
    result.steps = step;
    result.last_train_loss = loss;
    return loss;
  }

  // Calls on_step with the last step's figures.
  void ReportStep(uint32_t epoch, double loss, bool last_of_epoch) {
    if (!cb.on_step) return;
    StepInfo s;
    s.epoch = epoch;
    s.step = step;
    s.total_steps = plan.total_steps;
    s.loss = loss;
    s.images_per_second = local_ips;
    if (distributed()) {
      s.world_size = c.world_size;
      s.rank_images_per_second = rank_ips;
      s.images_per_second = 0;
      for (double r : rank_ips) s.images_per_second += r;
      s.allreduce_seconds = allreduce.seconds;
      s.allreduce_bytes = allreduce.bytes;
    }
    s.weights_hash = weights_hash;
    const double secs = absl::ToDoubleSeconds(window.back().first - window.front().first);
    const double steps_per_sec = secs > 0 ? (window.size() - 1) / secs : 0;
    s.eta_seconds = steps_per_sec > 0
                        ? static_cast<double>(plan.total_steps - std::min(step, plan.total_steps)) /
                              steps_per_sec
                        : 0;
    s.last_of_epoch = last_of_epoch;
    cb.on_step(s);
  }

  // An epoch ended (completely, or cut short by max_steps / the budget):
  // validation, the embedding head, precision, on_epoch, the checkpoint
  // policy.
  absl::Status EndEpoch(uint32_t epoch, double train_loss, absl::Time epoch_start,
                        double epoch_cpu_start) {
    EpochInfo e;
    e.epoch = epoch;
    e.train_loss = train_loss;
    e.learning_rate = lr;
    // Batch normalisation's running statistics are each rank's own while
    // training: validate (and checkpoint) with rank 0's on every rank.
    if (distributed() && !Buffers().empty()) LS_RETURN_IF_ERROR(group->Broadcast(Buffers()));
    LS_ASSIGN_OR_RETURN(e.validation_loss, Evaluate());
    LS_RETURN_IF_ERROR(FitEmbeddingHead());
    LS_RETURN_IF_ERROR(MeasurePrecision(&e));
    e.seconds = absl::ToDoubleSeconds(now() - epoch_start);
    e.cpu_seconds = ProcessCpuSeconds() - epoch_cpu_start;
    e.cut_short = cut;
    last_epoch_train = e.train_loss;
    result.epochs_completed = epoch;
    if (!std::isnan(e.validation_loss) && !(e.validation_loss >= result.best_validation_loss)) {
      result.best_validation_loss = e.validation_loss;
    }
    if (cb.on_epoch) cb.on_epoch(e);
    const double metric = std::isnan(e.validation_loss) ? e.train_loss : e.validation_loss;
    const bool is_best = metric < best;
    if (is_best) best = metric;
    if (c.checkpoint_policy == CheckpointPolicy::kEveryEpoch ||
        (c.checkpoint_policy == CheckpointPolicy::kBestValidation && is_best)) {
      LS_RETURN_IF_ERROR(Checkpoint(epoch, step, e.train_loss, e.validation_loss));
    }
    last_epoch_val = e.validation_loss;
    step_at_epoch_end = step;
    if (c.max_steps > 0 && step >= c.max_steps) cut = true;
    return absl::OkStatus();
  }

  // kEnd: the final weights, when at least one epoch ended. If a stop
  // request interrupted a later epoch, the weights moved since that
  // epoch's evaluation: evaluate them again.
  absl::Status FinalCheckpoint() {
    if (c.checkpoint_policy != CheckpointPolicy::kEnd || result.epochs_completed < 1) {
      return absl::OkStatus();
    }
    double v = last_epoch_val;
    if (step != step_at_epoch_end) {
      LS_ASSIGN_OR_RETURN(v, Evaluate());
      LS_RETURN_IF_ERROR(FitEmbeddingHead());
    }
    return Checkpoint(result.epochs_completed, step, last_epoch_train, v);
  }
};
}  // namespace

absl::StatusOr<TrainingResult> RunTraining(const TrainConfig& config, const data::Dataset& dataset,
                                           const TrainingCallbacks& callbacks,
                                           const std::string& resume) {
  LS_RETURN_IF_ERROR(ValidateTrainConfig(config, dataset));
  if (config.world_size > 1 &&
      (callbacks.collective == nullptr || callbacks.collective->world_size() != config.world_size ||
       callbacks.collective->rank() != config.rank)) {
    return absl::InvalidArgumentError(absl::StrCat("world_size ", config.world_size, " rank ",
                                                   config.rank,
                                                   " needs a collective of that size and rank"));
  }
  Runner r(config, dataset, callbacks, resume);
  try {
    return r.Run();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("training failed in LibTorch: ", e.what()));
  }
}

}  // namespace latentsearch::trainer

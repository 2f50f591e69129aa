// Retrieval quality of trained encoders (issue #8), run by hand.
//
//   quality_bench --mode=train --cifar10_dir=DIR --out=model.ckpt
//       [--architecture=resnet_small --latent=128 --epochs=N --budget_s=S
//        --cpu_clock --batch=256 --lr=2e-3 --temperature=0.2 ...]
//     Trains with RunTraining (the trainer's loop) and prints one line per
//     epoch: cumulative wall and CPU seconds, losses, the held-out
//     precision@10 (L2, cosine) and the learning rate. With --cpu_clock the
//     time budget and rates use process CPU time / threads (CPU-fair on a
//     shared machine). Writes the last weights to --out.
//   quality_bench --mode=eval --cifar10_dir=DIR --ckpt=model.ckpt
//     Encodes every training image and --queries seeded test images and
//     prints precision@10 by class for L1, L2 and cosine (exact search;
//     queries are test images, so none is in the base). --ckpt= (empty)
//     measures raw pixels instead. --whiten_out=PATH first fits the
//     embedding whitening (EMBEDDING_WHITENED) to 10,000 training images and
//     writes the checkpoint with it to PATH; --post also prints variants
//     (centred, standardised, whitened with several shrinkages, unit length).
#include <time.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/base/openblas_core.h"
#include "common/data/dataset.h"
#include "common/data/load.h"
#include "common/eval/knn_precision.h"
#include "common/index/metric.h"
#include "common/model/checkpoint.h"
#include "common/model/model.h"
#include "services/trainer/training.h"

ABSL_FLAG(std::string, mode, "eval", "train or eval");
ABSL_FLAG(std::string, cifar10_dir, "", "CIFAR-10 binary directory");
ABSL_FLAG(std::string, idx_dir, "", "IDX directory (Fashion-MNIST)");
ABSL_FLAG(std::string, out, "quality.ckpt", "train: checkpoint to write");
ABSL_FLAG(std::string, ckpt, "", "eval: checkpoint to measure ('' = raw pixels)");
ABSL_FLAG(std::string, architecture, "resnet_small", "train: architecture");
ABSL_FLAG(int, latent, 128, "train: latent size");
ABSL_FLAG(std::string, objective, "contrastive", "reconstruction, denoising, contrastive");
ABSL_FLAG(int, epochs, 30, "train: epochs");
ABSL_FLAG(double, budget_s, 0, "train: time budget in seconds (0 = none)");
ABSL_FLAG(bool, cpu_clock, true, "train: budget on process CPU seconds / threads");
ABSL_FLAG(int, batch, 256, "train: batch size");
ABSL_FLAG(double, lr, 2e-3, "train: peak learning rate");
ABSL_FLAG(double, weight_decay, 1e-4, "train: AdamW weight decay");
ABSL_FLAG(double, temperature, 0.2, "train: NT-Xent temperature");
ABSL_FLAG(double, reconstruction_weight, 0, "train: + weight x MSE");
ABSL_FLAG(double, min_scale, 0.2, "train: random resized crop minimum area");
ABSL_FLAG(double, jitter_probability, 0.8, "train: colour jitter probability");
ABSL_FLAG(double, jitter_strength, 0.4,
          "train: brightness, contrast and saturation jitter strength");
ABSL_FLAG(int, eval_images, 2000, "train: held-out images for precision@10");
ABSL_FLAG(std::string, embedding, "latent", "train: latent or whitened (served embedding)");
ABSL_FLAG(int, whiten_images, 10000, "eval: training images --whiten_out fits to");
ABSL_FLAG(double, whiten_shrinkage, 0.1, "eval: --whiten_out's eigenvalue shrinkage");
ABSL_FLAG(bool, whiten_mirror, true,
          "train (whitened) and eval (--whiten_out): average with the mirror image's latent");
ABSL_FLAG(std::string, whiten_out, "",
          "eval: also fit the embedding whitening to the training images and write the "
          "checkpoint with it here");
ABSL_FLAG(int, threads, 2, "intra-op threads");
ABSL_FLAG(uint64_t, seed, 1, "seed");
ABSL_FLAG(uint64_t, max_train_images, 0, "train: use at most this many (0 = all)");
ABSL_FLAG(int, queries, 1000, "eval: seeded test queries");
ABSL_FLAG(bool, post, false,
          "eval: also measure post-processing variants of the embeddings (centring, "
          "standardising, PCA whitening with several shrinkages, unit length)");

namespace latentsearch {
namespace {

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

absl::StatusOr<data::Dataset> Load(data::Split split) {
  data::DatasetSpec spec;
  if (!absl::GetFlag(FLAGS_cifar10_dir).empty()) {
    spec.kind = data::DatasetKind::kCifar10;
    spec.path = absl::GetFlag(FLAGS_cifar10_dir);
  } else {
    spec.kind = data::DatasetKind::kIdx;
    spec.path = absl::GetFlag(FLAGS_idx_dir);
  }
  spec.split = split;
  return data::LoadDataset(spec);
}

int Train() {
  absl::StatusOr<data::Dataset> d = Load(data::Split::kTrain);
  if (!d.ok()) {
    std::fprintf(stderr, "%s\n", d.status().ToString().c_str());
    return 1;
  }
  const uint64_t max_images = absl::GetFlag(FLAGS_max_train_images);
  if (max_images > 0 && max_images < d->size()) {
    std::vector<size_t> keep = data::SampleIndices(d->size(), max_images, 99);
    data::Dataset sub = *d;
    sub.pixels.clear();
    sub.labels.clear();
    for (size_t i : keep) {
      sub.pixels.insert(sub.pixels.end(), d->image_data(i), d->image_data(i) + d->image_bytes());
      sub.labels.push_back(d->labels[i]);
    }
    *d = std::move(sub);
  }
  trainer::TrainConfig c;
  c.model = {absl::GetFlag(FLAGS_architecture),
             absl::GetFlag(FLAGS_latent),
             {d->height, d->width, d->channels}};
  const std::string obj = absl::GetFlag(FLAGS_objective);
  c.objective = obj == "contrastive" ? trainer::Objective::kContrastive
                : obj == "denoising" ? trainer::Objective::kDenoising
                                     : trainer::Objective::kReconstruction;
  c.epochs = absl::GetFlag(FLAGS_epochs);
  c.batch_size = absl::GetFlag(FLAGS_batch);
  c.optimizer = trainer::OptimizerKind::kAdamW;
  c.learning_rate = absl::GetFlag(FLAGS_lr);
  c.weight_decay = absl::GetFlag(FLAGS_weight_decay);
  c.lr_schedule = trainer::LrSchedule::kWarmupCosine;
  c.warmup_fraction = 0.05;
  c.temperature = absl::GetFlag(FLAGS_temperature);
  c.reconstruction_weight = absl::GetFlag(FLAGS_reconstruction_weight);
  c.views.min_scale = absl::GetFlag(FLAGS_min_scale);
  c.views.jitter_probability = absl::GetFlag(FLAGS_jitter_probability);
  c.views.brightness = c.views.contrast = c.views.saturation = absl::GetFlag(FLAGS_jitter_strength);
  c.eval_images = absl::GetFlag(FLAGS_eval_images);
  c.embedding = absl::GetFlag(FLAGS_embedding) == "whitened" ? trainer::Embedding::kWhitened
                                                             : trainer::Embedding::kLatent;
  c.whitening_mirror = absl::GetFlag(FLAGS_whiten_mirror);
  c.validation_fraction = 0.1;
  c.threads = absl::GetFlag(FLAGS_threads);
  c.seed = absl::GetFlag(FLAGS_seed);
  c.use_cuda_if_available = true;
  c.time_budget_seconds = absl::GetFlag(FLAGS_budget_s);
  c.checkpoint_policy = trainer::CheckpointPolicy::kEnd;
  c.dataset_name = d->source;
  model::TuneAllocatorForTraining();

  const absl::Time wall0 = absl::Now();
  const double cpu0 = CpuSeconds();
  const int threads = c.threads;
  trainer::TrainingCallbacks cb;
  if (absl::GetFlag(FLAGS_cpu_clock)) {
    cb.now = [cpu0, threads] {
      return absl::UnixEpoch() + absl::Seconds((CpuSeconds() - cpu0) / threads);
    };
  }
  std::printf(
      "epoch\twall_s\tcpu_s\tcpu_s_per_thread\ttrain_loss\tval_loss\tp10_l2\tp10_cos\tp10_"
      "pixels\tlr\n");
  cb.on_epoch = [&](const trainer::EpochInfo& e) {
    const double cpu = CpuSeconds() - cpu0;
    std::printf("%u\t%.0f\t%.0f\t%.0f\t%.4f\t%.4f\t%.4f\t%.4f\t%.4f\t%.2e%s\n", e.epoch,
                absl::ToDoubleSeconds(absl::Now() - wall0), cpu, cpu / threads, e.train_loss,
                e.validation_loss, e.precision_at_10, e.precision_at_10_cosine,
                e.pixel_precision_at_10, e.learning_rate, e.cut_short ? "\t(cut short)" : "");
    std::fflush(stdout);
  };
  uint64_t last_print = 0;
  cb.on_step = [&](const trainer::StepInfo& s) {
    if (s.step - last_print >= 50) {
      last_print = s.step;
      std::fprintf(stderr, "step %llu/%llu loss %.4f %.0f img/s\n",
                   static_cast<unsigned long long>(s.step),
                   static_cast<unsigned long long>(s.total_steps), s.loss, s.images_per_second);
    }
  };
  const std::string out = absl::GetFlag(FLAGS_out);
  cb.on_checkpoint = [&](model::Checkpoint ckpt) {
    ckpt.metadata.model_name = "quality";
    ckpt.metadata.version = 1;
    return model::WriteCheckpointFile(out, ckpt);
  };
  absl::StatusOr<trainer::TrainingResult> r = trainer::RunTraining(c, *d, cb);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
    return 1;
  }
  std::printf("# %u epochs, %llu steps on %s; wall %.0f s, CPU %.0f s; wrote %s\n",
              r->epochs_completed, static_cast<unsigned long long>(r->steps), r->device.c_str(),
              absl::ToDoubleSeconds(absl::Now() - wall0), CpuSeconds() - cpu0, out.c_str());
  return 0;
}

// n × C × H × W floats in [0, 1] → n × latent embeddings (or raw pixels).
absl::StatusOr<std::vector<float>> Embed(model::Model* m, const data::Dataset& d,
                                         const std::vector<size_t>& which, size_t* dim) {
  const size_t per = d.image_bytes();
  std::vector<float> out;
  std::vector<float> buf;
  const size_t batch = 500;
  for (size_t first = 0; first < which.size(); first += batch) {
    const size_t n = std::min(batch, which.size() - first);
    buf.resize(n * per);
    for (size_t i = 0; i < n; ++i) {
      absl::Status s = data::NormalizeRange(d, which[first + i], 1,
                                            m ? data::Layout::kNCHW : data::Layout::kNHWC,
                                            absl::MakeSpan(buf.data() + i * per, per));
      if (!s.ok()) return s;
    }
    if (m == nullptr) {
      out.insert(out.end(), buf.begin(), buf.end());
      *dim = per;
      continue;
    }
    absl::StatusOr<std::vector<float>> z = m->Encode(buf, n);
    if (!z.ok()) return z.status();
    out.insert(out.end(), z->begin(), z->end());
    *dim = static_cast<size_t>(m->spec().latent_size);
  }
  return out;
}

void Report(const char* name, const std::vector<float>& base, const std::vector<int32_t>& bl,
            const std::vector<float>& q, const std::vector<int32_t>& ql, size_t dim) {
  eval::KnnPrecisionOptions po;
  po.threads = absl::GetFlag(FLAGS_threads);
  std::printf("%-24s", name);
  for (index::Metric metric : index::kAllMetrics) {
    absl::StatusOr<double> p = eval::KnnPrecisionAtK(metric, base, bl, q, ql, dim, false, po);
    std::printf("\t%s %.3f", std::string(index::MetricName(metric)).c_str(), p.ok() ? *p : -1.0);
  }
  std::printf("\n");
  std::fflush(stdout);
}

void PostVariants(const std::vector<float>& base, const std::vector<int32_t>& bl,
                  const std::vector<float>& q, const std::vector<int32_t>& ql, size_t dim) {
  const int64_t n = base.size() / dim, nq = q.size() / dim, d = dim;
  torch::Tensor B = torch::from_blob(const_cast<float*>(base.data()), {n, d}).to(torch::kDouble);
  torch::Tensor Q = torch::from_blob(const_cast<float*>(q.data()), {nq, d}).to(torch::kDouble);
  torch::Tensor mu = B.mean(0, true);
  auto run = [&](const char* name, torch::Tensor b, torch::Tensor qq) {
    b = b.to(torch::kFloat).contiguous();
    qq = qq.to(torch::kFloat).contiguous();
    std::vector<float> vb(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
    std::vector<float> vq(qq.data_ptr<float>(), qq.data_ptr<float>() + qq.numel());
    Report(name, vb, bl, vq, ql, b.size(1));
  };
  run("centred", B - mu, Q - mu);
  torch::Tensor sd = B.std(0, true, true) + 1e-8;
  run("standardised", (B - mu) / sd, (Q - mu) / sd);
  torch::Tensor C = (B - mu).t().mm(B - mu) / (n - 1);
  auto [L, U] = torch::linalg_eigh(C);
  const double mean_l = L.mean().item<double>();
  for (double eps : {1.0, 0.3, 0.1, 0.03, 0.01}) {
    torch::Tensor W = U / (L + eps * mean_l).sqrt().unsqueeze(0);
    run(absl::StrCat("whitened eps ", eps).c_str(), (B - mu).mm(W), (Q - mu).mm(W));
  }
  for (double eps : {0.1, 0.01}) {
    torch::Tensor W = U / (L + eps * mean_l).sqrt().unsqueeze(0);
    auto nb = (B - mu).mm(W);
    auto nqq = (Q - mu).mm(W);
    nb = nb / nb.norm(2, 1, true);
    nqq = nqq / nqq.norm(2, 1, true);
    run(absl::StrCat("whitened+l2n eps ", eps).c_str(), nb, nqq);
  }
  {
    auto nb = B / B.norm(2, 1, true);
    auto nqq = Q / Q.norm(2, 1, true);
    run("l2-normalised", nb, nqq);
    auto m2 = nb.mean(0, true);
    auto cb = nb - m2, cq = nqq - m2;
    run("l2n, centred, l2n", cb / cb.norm(2, 1, true), cq / cq.norm(2, 1, true));
  }
}

int Eval() {
  model::SetThreads(absl::GetFlag(FLAGS_threads));
  absl::StatusOr<data::Dataset> train = Load(data::Split::kTrain);
  absl::StatusOr<data::Dataset> test = Load(data::Split::kTest);
  if (!train.ok() || !test.ok()) {
    std::fprintf(stderr, "cannot load the data set\n");
    return 1;
  }
  std::unique_ptr<model::Model> m;
  const std::string path = absl::GetFlag(FLAGS_ckpt);
  if (!path.empty()) {
    absl::StatusOr<model::Checkpoint> ckpt = model::ReadCheckpointFile(path);
    if (!ckpt.ok()) {
      std::fprintf(stderr, "%s\n", ckpt.status().ToString().c_str());
      return 1;
    }
    absl::StatusOr<std::unique_ptr<model::Model>> loaded = model::LoadModel(*ckpt);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      return 1;
    }
    m = *std::move(loaded);
    std::printf("# %s: %s latent %d, objective %s, epoch %u%s\n", path.c_str(),
                ckpt->metadata.architecture.c_str(), ckpt->metadata.latent_size,
                ckpt->metadata.objective.c_str(), ckpt->metadata.epoch,
                m->has_embedding_head() ? ", whitened embedding" : "");
    const std::string whiten_out = absl::GetFlag(FLAGS_whiten_out);
    if (!whiten_out.empty()) {
      // As the trainer's Embedding::kWhitened (defaults: 10,000 training
      // images, shrinkage 0.1).
      const std::vector<size_t> fit = data::SampleIndices(
          train->size(), static_cast<size_t>(absl::GetFlag(FLAGS_whiten_images)), 1);
      const size_t per = train->image_bytes();
      std::vector<float> images(fit.size() * per);
      for (size_t i = 0; i < fit.size(); ++i) {
        absl::Status s = data::NormalizeRange(*train, fit[i], 1, data::Layout::kNCHW,
                                              absl::MakeSpan(images.data() + i * per, per));
        if (!s.ok()) return 1;
      }
      absl::Status s =
          m->FitEmbeddingWhitening(images, fit.size(), absl::GetFlag(FLAGS_whiten_shrinkage),
                                   absl::GetFlag(FLAGS_whiten_mirror));
      absl::StatusOr<std::string> weights =
          m->decoder_parameters() > 0 ? m->SerializeWeights() : m->SerializeEncoderWeights();
      if (s.ok() && weights.ok()) {
        s = model::WriteCheckpointFile(whiten_out,
                                       model::MakeCheckpoint(ckpt->metadata, *std::move(weights)));
      }
      if (!s.ok() || !weights.ok()) {
        std::fprintf(stderr, "whitening: %s %s\n", s.ToString().c_str(),
                     weights.status().ToString().c_str());
        return 1;
      }
      std::printf("# fitted the embedding whitening to %zu training images; wrote %s\n", fit.size(),
                  whiten_out.c_str());
    }
  }
  std::vector<size_t> all(train->size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  const std::vector<size_t> queries =
      data::SampleIndices(test->size(), static_cast<size_t>(absl::GetFlag(FLAGS_queries)), 1);
  const absl::Time t0 = absl::Now();
  size_t dim = 0;
  absl::StatusOr<std::vector<float>> base = Embed(m.get(), *train, all, &dim);
  absl::StatusOr<std::vector<float>> q = Embed(m.get(), *test, queries, &dim);
  if (!base.ok() || !q.ok()) {
    std::fprintf(stderr, "encoding failed\n");
    return 1;
  }
  if (absl::GetFlag(FLAGS_post)) {
    std::vector<int32_t> ql;
    for (size_t i : queries) ql.push_back(test->labels[i]);
    Report("as measured", *base, train->labels, *q, ql, dim);
    PostVariants(*base, train->labels, *q, ql, dim);
    return 0;
  }
  std::vector<int32_t> qlabels;
  for (size_t i : queries) qlabels.push_back(test->labels[i]);
  std::printf("# %zu base images, %zu test queries, dim %zu, encoded in %.0f s\n", train->size(),
              queries.size(), dim, absl::ToDoubleSeconds(absl::Now() - t0));
  eval::KnnPrecisionOptions po;
  po.threads = absl::GetFlag(FLAGS_threads);
  for (index::Metric metric : index::kAllMetrics) {
    absl::StatusOr<double> p = eval::KnnPrecisionAtK(metric, *base, train->labels, *q, qlabels, dim,
                                                     /*queries_are_base=*/false, po);
    if (!p.ok()) {
      std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
      return 1;
    }
    std::printf("precision@10 %s\t%.3f\n", std::string(index::MetricName(metric)).c_str(), *p);
  }
  return 0;
}

}  // namespace
}  // namespace latentsearch

int main(int argc, char** argv) {
  // As latentsearch-trainer does: OpenBLAS's AVX-512 kernels on a CPU it does
  // not know (common/base/openblas_core.h).
  latentsearch::base::ReexecIfOpenBlasFellBack(argv);
  absl::ParseCommandLine(argc, argv);
  std::printf("%s\n", latentsearch::base::OpenBlasCoreNote().c_str());
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "train") return latentsearch::Train();
  if (mode == "eval") return latentsearch::Eval();
  std::fprintf(stderr, "--mode must be train or eval\n");
  return 2;
}

// Training throughput of the architectures next to what the machine can do
// (GEMM and convolution FLOP/s). Goals on the 2-core development machine:
// seed >= 50 images/s, conv >= 3,000 images/s (CIFAR-10-shaped data).
//
//   build/bench/model_bench                       # everything (~3 min)
//   build/bench/model_bench --benchmark_filter=Train/conv
//
// BM_Train args: (architecture 0 = conv / 1 = seed, batch, formulation
// 0 plain / 1 phase_conv / 2 phase_split, precision 0 fp32 / 1 bf16,
// intra-op threads). Images/s over the steps after a warm-up, measured by
// the training loop's own step events (data gathering, forward, backward,
// optimiser step: everything a real job does except validation).
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "common/base/openblas_core.h"
#include "common/data/dataset.h"
#include "common/data/load.h"
#include "common/model/model.h"
#include "common/testing/test_env.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer {
namespace {

double ProcessCpuSeconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

const data::Dataset& CifarShaped() {
  static const data::Dataset* d = [] {
    auto* ds = new data::Dataset;
    ds->source = "random 32x32x3";
    ds->height = ds->width = 32;
    ds->channels = 3;
    ds->class_names = {"x"};
    const size_t n = 4096;
    std::mt19937 rng(1);
    ds->pixels.resize(n * 32 * 32 * 3);
    for (auto& p : ds->pixels) p = static_cast<uint8_t>(rng());
    ds->labels.assign(n, 0);
    return ds;
  }();
  return *d;
}

void BM_Train(benchmark::State& state) {
  const bool seed = state.range(0) == 1;
  TrainConfig c;
  c.model = {seed ? "seed" : "conv", 10, {32, 32, 3}};
  c.batch_size = static_cast<int>(state.range(1));
  c.formulation = static_cast<model::Formulation>(state.range(2));
  c.precision = state.range(3) == 1 ? Precision::kBFloat16 : Precision::kFloat32;
  c.threads = static_cast<int>(state.range(4));
  c.channels_last = state.range(5) == 1;
  c.validation_fraction = 0;
  c.epochs = 10000;
  c.use_cuda_if_available = false;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  const uint64_t warmup = 2;
  // Enough steps for ~1-3 s per run.
  const uint64_t measured =
      seed ? (c.batch_size >= 256 ? 3 : 12) : (c.batch_size >= 256 ? 30 : 150);
  c.max_steps = warmup + measured;
  double images_per_second = 0, images_per_cpu_second = 0, median_step = 0, best_step = 0;
  for (auto _ : state) {
    absl::Time t0, t1, last;
    double cpu0 = 0, cpu1 = 0;
    std::vector<double> step_seconds;
    TrainingCallbacks cb;
    cb.on_step = [&](const StepInfo& s) {
      const absl::Time now = absl::Now();
      if (s.step > warmup) step_seconds.push_back(absl::ToDoubleSeconds(now - last));
      last = now;
      if (s.step == warmup) {
        t0 = now;
        cpu0 = ProcessCpuSeconds();
      }
      if (s.step == warmup + measured) {
        t1 = now;
        cpu1 = ProcessCpuSeconds();
      }
    };
    // LS_BENCH_PROFILE=DIR writes a Chrome trace per benchmark to DIR.
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    if (const char* dir = std::getenv("LS_BENCH_PROFILE")) {
      std::string name =
          absl::StrCat("train_", state.range(0), "_", state.range(1), "_", state.range(2), "_",
                       state.range(3), "_", state.range(4), "_", state.range(5));
      profile = std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(dir) + "/" +
                                                                           name + ".json");
    }
    auto r = RunTraining(c, CifarShaped(), cb);
    profile.reset();
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    const double secs = absl::ToDoubleSeconds(t1 - t0);
    state.SetIterationTime(secs);
    images_per_second = measured * c.batch_size / secs;
    images_per_cpu_second = measured * c.batch_size / (cpu1 - cpu0);
    std::sort(step_seconds.begin(), step_seconds.end());
    median_step = step_seconds[step_seconds.size() / 2];
    best_step = step_seconds.front();
  }
  state.counters["img/s"] = images_per_second;
  // On a shared machine other processes inflate wall time: the median and
  // fastest single step tell what the code does with the cores to itself.
  state.counters["img/s_median"] = c.batch_size / median_step;
  state.counters["img/s_best"] = c.batch_size / best_step;
  state.counters["img/s_cpu"] = images_per_cpu_second * c.threads;
  state.SetLabel(absl::StrCat(
      c.model.architecture, " b", c.batch_size, " ", model::FormulationName(c.formulation), " ",
      state.range(3) ? "bf16" : "fp32", " t", c.threads, c.channels_last ? " nhwc" : " nchw"));
}

// conv on real Fashion-MNIST (28×28×1), batch 64: the integration test's
// setting. Arg: flush denormals (1) or not (0).
void BM_TrainFashion(benchmark::State& state) {
  static const data::Dataset* fashion = []() -> data::Dataset* {
    auto dir = latentsearch::testing::FashionMnistDir();
    if (!dir) return nullptr;
    data::DatasetSpec spec;
    spec.kind = data::DatasetKind::kIdx;
    spec.path = *dir;
    spec.split = data::Split::kTrain;
    auto d = data::LoadDataset(spec);
    return d.ok() ? new data::Dataset(*std::move(d)) : nullptr;
  }();
  if (fashion == nullptr) {
    state.SkipWithError("Fashion-MNIST not installed");
    return;
  }
  at::globalContext().setFlushDenormal(state.range(0) == 1);
  TrainConfig c;
  c.model = {"conv", 10, {28, 28, 1}};
  c.batch_size = 64;
  c.threads = 2;
  c.validation_fraction = 0;
  c.epochs = 10000;
  c.use_cuda_if_available = false;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  const uint64_t warmup = 2, measured = 100;
  c.max_steps = warmup + measured;
  double ips = 0;
  for (auto _ : state) {
    absl::Time t0, t1;
    TrainingCallbacks cb;
    cb.on_step = [&](const StepInfo& s) {
      if (s.step == warmup) t0 = absl::Now();
      if (s.step == warmup + measured) t1 = absl::Now();
    };
    auto r = RunTraining(c, *fashion, cb);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    state.SetIterationTime(absl::ToDoubleSeconds(t1 - t0));
    ips = measured * c.batch_size / absl::ToDoubleSeconds(t1 - t0);
  }
  state.counters["img/s"] = ips;
  at::globalContext().setFlushDenormal(false);
}
BENCHMARK(BM_TrainFashion)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Validation loss reached on real CIFAR-10 (train split, 10 % held out) by
// each architecture in a fixed budget, batch 32, fp32, 2 threads (see below).
// Registered only when LS_BENCH_BUDGET_SECONDS is set (it takes 2 × that):
//   LS_BENCH_BUDGET_SECONDS=600 build/bench/model_bench --benchmark_filter=Budget
// The budget is CPU time by default: the training clock is the process's
// CPU seconds divided by the thread count, so a budget of 600 s is 1,200
// CPU-seconds on 2 cores however loaded the machine is (equal to wall time
// on an idle machine). LS_BENCH_BUDGET_CLOCK=wall budgets wall time.
void BM_CifarBudget(benchmark::State& state) {
  static const data::Dataset* cifar = []() -> data::Dataset* {
    auto dir = latentsearch::testing::Cifar10Dir();
    if (!dir) return nullptr;
    data::DatasetSpec spec;
    spec.kind = data::DatasetKind::kCifar10;
    spec.path = *dir;
    spec.split = data::Split::kTrain;
    auto d = data::LoadDataset(spec);
    return d.ok() ? new data::Dataset(*std::move(d)) : nullptr;
  }();
  if (cifar == nullptr) {
    state.SkipWithError("CIFAR-10 not found");
    return;
  }
  TrainConfig c;
  c.model = {state.range(0) == 1 ? "seed" : "conv", 10, {32, 32, 3}};
  c.batch_size = 32;
  // LS_BENCH_BUDGET_THREADS=1 gives each run one core: on a shared machine
  // a 2-thread OpenMP team spins while its other thread is descheduled,
  // which a CPU-time clock would count as work.
  const char* threads = std::getenv("LS_BENCH_BUDGET_THREADS");
  c.threads = threads != nullptr ? std::max(1, std::atoi(threads)) : 2;
  c.epochs = 10000;
  c.seed = 1;
  c.use_cuda_if_available = false;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  c.time_budget_seconds = std::atof(std::getenv("LS_BENCH_BUDGET_SECONDS"));
  double best = 0, steps = 0, cpu = 0, wall = 0;
  for (auto _ : state) {
    const double cpu0 = ProcessCpuSeconds();
    TrainingCallbacks cb;
    const char* clock = std::getenv("LS_BENCH_BUDGET_CLOCK");
    if (clock == nullptr || std::string(clock) != "wall") {
      cb.now = [&c, cpu0] {
        return absl::UnixEpoch() + absl::Seconds((ProcessCpuSeconds() - cpu0) / c.threads);
      };
    }
    const absl::Time wall0 = absl::Now();
    cb.on_epoch = [&](const EpochInfo& e) {
      std::fprintf(stderr, "%s epoch %u: train %.5f validation %.5f (%.0f s)%s\n",
                   c.model.architecture.c_str(), e.epoch, e.train_loss, e.validation_loss,
                   e.seconds, e.cut_short ? " (cut by the budget)" : "");
    };
    auto r = RunTraining(c, *cifar, cb);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    best = r->best_validation_loss;
    steps = static_cast<double>(r->steps);
    cpu = ProcessCpuSeconds() - cpu0;
    wall = absl::ToDoubleSeconds(absl::Now() - wall0);
  }
  state.counters["best_val_mse"] = best;
  state.counters["steps"] = steps;
  state.counters["cpu_s"] = cpu;
  state.counters["wall_s"] = wall;
  state.SetLabel(absl::StrCat(c.model.architecture, " t", c.threads));
}

void TrainArgs(benchmark::internal::Benchmark* b) {
  // (arch, batch, formulation, precision, threads, channels_last)
  for (int batch : {32, 256}) {
    b->Args({0, batch, 1, 0, 2, 1});  // conv fp32 nhwc (default)
    b->Args({0, batch, 1, 0, 2, 0});  // conv fp32 nchw
    b->Args({0, batch, 1, 1, 2, 1});  // conv bf16
    b->Args({1, batch, 1, 0, 2, 1});  // seed phase_conv fp32 nhwc (default)
    b->Args({1, batch, 1, 0, 2, 0});  // seed phase_conv fp32 nchw
    b->Args({1, batch, 2, 0, 2, 1});  // seed phase_split fp32 nhwc
    b->Args({1, batch, 1, 1, 2, 1});  // seed phase_conv bf16
    b->Args({1, batch, 2, 1, 2, 1});  // seed phase_split bf16
  }
  b->Args({1, 32, 0, 0, 2, 0});   // seed plain (ConvTranspose2d + BLAS), fp32
  b->Args({0, 256, 1, 0, 1, 1});  // conv, 1 thread
  b->Args({1, 32, 1, 0, 1, 1});   // seed, 1 thread
}
BENCHMARK(BM_Train)->Apply(TrainArgs)->Iterations(1)->UseManualTime()->Unit(
    benchmark::kMillisecond);

// Achievable FLOP/s: an n×n×n matrix product (fp32 = OpenBLAS, bf16 =
// oneDNN/AMX) and the seed's dominant convolution shape.
void BM_Gemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool bf16 = state.range(1) == 1;
  torch::set_num_threads(2);
  auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
  torch::Tensor a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  torch::mm(a, b);
  for (auto _ : state) benchmark::DoNotOptimize(torch::mm(a, b).data_ptr());
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(bf16 ? "bf16" : "fp32");
}
BENCHMARK(BM_Gemm)->Args({2048, 0})->Args({2048, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

// Conv2d 32×128×32×32 → 256, k3 (forward), and the seed encoder's largest
// layer as a phase convolution: 32×128×33×33 → 1024, k2.
void BM_Conv(benchmark::State& state) {
  const bool bf16 = state.range(0) == 1;
  const bool phase = state.range(1) == 1;
  torch::set_num_threads(2);
  torch::NoGradGuard g;
  auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
  torch::Tensor x = torch::randn({32, 128, phase ? 33 : 32, phase ? 33 : 32}).to(dtype);
  torch::Tensor w = torch::randn({phase ? 1024 : 256, 128, phase ? 2 : 3, phase ? 2 : 3}).to(dtype);
  const int pad = phase ? 0 : 1;
  torch::conv2d(x, w, {}, 1, pad);
  for (auto _ : state) benchmark::DoNotOptimize(torch::conv2d(x, w, {}, 1, pad).data_ptr());
  const double macs = phase ? 32.0 * 1024 * 32 * 32 * 128 * 4 : 32.0 * 256 * 32 * 32 * 128 * 9;
  state.counters["GFLOP/s"] =
      benchmark::Counter(2 * macs * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(absl::StrCat(phase ? "phase k2 ->1024" : "k3 ->256", bf16 ? " bf16" : " fp32"));
}
BENCHMARK(BM_Conv)
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace latentsearch::trainer

int main(int argc, char** argv) {
  // As latentsearch-trainer does: OpenBLAS's AVX kernels on a CPU it does
  // not know (LS_BENCH_OPENBLAS_AS_LOADED=1 to compare).
  if (std::getenv("LS_BENCH_OPENBLAS_AS_LOADED") == nullptr) {
    latentsearch::base::ReexecIfOpenBlasFellBack(argv);
  }
  std::printf("%s\n", latentsearch::base::OpenBlasCoreNote().c_str());
  // As latentsearch-trainer does (LS_BENCH_DEFAULT_MALLOC=1 to compare).
  if (std::getenv("LS_BENCH_DEFAULT_MALLOC") == nullptr) {
    latentsearch::model::TuneAllocatorForTraining();
  }
  if (std::getenv("LS_BENCH_BUDGET_SECONDS") != nullptr) {
    benchmark::RegisterBenchmark("BM_CifarBudget", latentsearch::trainer::BM_CifarBudget)
        ->Arg(0)
        ->Arg(1)
        ->Iterations(1)
        ->Unit(benchmark::kSecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

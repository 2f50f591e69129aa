// Data-parallel scaling on one machine (#11; docs/benchmarks.md "Data-parallel
// training"): 2 ranks × 1 thread against 1 rank × 1 thread, conv and seed,
// batch 256 per rank, fp32 reconstruction, Adamax. The ranks run on two
// threads of this process, each with one intra-op thread and one OpenBLAS
// thread, joined by a real ProcessGroupGloo over loopback TCP (the store is
// an in-process HashStore: it is only used to connect). Reports images/s,
// the ratio, and the gradient all-reduce's wall time and bytes per step;
// `lscpu` flags and `uptime` before and after. Run it on a quiet machine:
//   flock /tmp/ls-build.lock build/bench/dp_bench [--models=conv,seed]
//       [--conv_steps=20] [--seed_steps=2] [--batch=256]
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "services/trainer/distributed/gloo_collective.h"
#include "services/trainer/distributed/rendezvous.h"
#include "services/trainer/training.h"

namespace latentsearch::trainer::distributed {
namespace {

std::string Shell(const char* cmd) {
  std::string out;
  FILE* p = popen(cmd, "r");
  if (p == nullptr) return out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  pclose(p);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

data::Dataset Images(size_t n) {
  data::Dataset d;
  d.source = "random blobs";
  d.height = d.width = 32;
  d.channels = 3;
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> u(0, 255);
  d.pixels.resize(n * 32 * 32 * 3);
  for (auto& p : d.pixels) p = static_cast<uint8_t>(u(rng));
  d.labels.assign(n, data::kNoLabel);
  return d;
}

struct Result {
  double images_per_second = 0;
  double allreduce_ms = 0;  // Per step (rank 0).
  double allreduce_mb = 0;  // Per step (rank 0's contribution).
  double step_ms = 0;
};

TrainConfig Config(const std::string& arch, int batch, int steps) {
  TrainConfig c;
  c.model = {arch, 10, {32, 32, 3}};
  c.epochs = 1;
  c.batch_size = batch;
  c.max_steps = static_cast<uint64_t>(steps);
  c.validation_fraction = 0;
  c.checkpoint_policy = CheckpointPolicy::kEnd;
  c.threads = 1;
  c.seed = 1;
  c.use_cuda_if_available = false;
  return c;
}

// One run of `steps` steps (the first `warmup` not measured) on `world` ranks.
Result Run(const std::string& arch, int world, int batch, int steps, int warmup) {
  const data::Dataset d = Images(static_cast<size_t>(world * batch * steps));
  std::vector<absl::Time> times;
  std::vector<double> ar_s, ar_b;
  auto on_step = [&](const StepInfo& s) {
    times.push_back(absl::Now());
    ar_s.push_back(s.allreduce_seconds);
    ar_b.push_back(static_cast<double>(s.allreduce_bytes));
  };
  if (world == 1) {
    TrainingCallbacks cb;
    cb.on_step = on_step;
    (void)RunTraining(Config(arch, batch, steps), d, cb);
  } else {
    auto store = c10::make_intrusive<c10d::HashStore>();
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        GroupConfig g;
        g.rank = r;
        g.world_size = world;
        auto rdv = Rendezvous::OverStore(g, store);
        const int64_t gen =
            r == 0 ? rdv->OpenGeneration() : *rdv->JoinableGeneration([] { return true; });
        auto group = rdv->Form(gen);
        if (!group.ok()) {
          std::fprintf(stderr, "rank %d: %s\n", r, group.status().ToString().c_str());
          return;
        }
        TrainConfig c = Config(arch, batch, steps);
        c.rank = r;
        c.world_size = world;
        TrainingCallbacks cb;
        cb.collective = group->get();
        if (r == 0) cb.on_step = on_step;
        absl::StatusOr<TrainingResult> res = RunTraining(c, d, cb);
        if (!res.ok()) std::fprintf(stderr, "rank %d: %s\n", r, res.status().ToString().c_str());
      });
    }
    for (auto& t : threads) t.join();
  }
  Result res;
  if (static_cast<int>(times.size()) < steps) return res;
  const int measured = steps - warmup;
  const double secs = absl::ToDoubleSeconds(times[steps - 1] - times[warmup - 1]);
  res.images_per_second = measured * batch * world / secs;
  res.step_ms = 1000 * secs / measured;
  for (int i = warmup; i < steps; ++i) {
    res.allreduce_ms += 1000 * ar_s[i] / measured;
    res.allreduce_mb += ar_b[i] / 1e6 / measured;
  }
  return res;
}

int Main(int argc, char** argv) {
  std::vector<std::string> models = {"conv", "seed"};
  int conv_steps = 20, seed_steps = 3, batch = 256;
  for (int i = 1; i < argc; ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    if (kv.first == "--models") models = absl::StrSplit(kv.second, ',');
    if (kv.first == "--conv_steps") (void)absl::SimpleAtoi(kv.second, &conv_steps);
    if (kv.first == "--seed_steps") (void)absl::SimpleAtoi(kv.second, &seed_steps);
    if (kv.first == "--batch") (void)absl::SimpleAtoi(kv.second, &batch);
  }
  std::printf("CPU: %s\n", Shell("lscpu | sed -n 's/^Model name: *//p'").c_str());
  std::printf("flags: %s\n",
              Shell("grep -o -w -E 'avx512[a-z_0-9]*|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | "
                    "tr '\\n' ' '")
                  .c_str());
  std::printf("cores: %s, OPENBLAS_CORETYPE=%s\n", Shell("nproc").c_str(),
              getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
  std::printf("before: `%s`\n\n", Shell("uptime").c_str());
  std::printf(
      "| model | batch/rank | 1 rank img/s | 2 ranks img/s | ratio | step ms (2 ranks) "
      "| all-reduce ms/step | all-reduce MB/step (per rank) "
      "|\n|---|---|---|---|---|---|---|---|\n");
  for (const std::string& m : models) {
    const int steps = m == "seed" ? seed_steps : conv_steps;
    const int warmup = 1;
    const Result one = Run(m, 1, batch, steps + warmup, warmup);
    const Result two = Run(m, 2, batch, steps + warmup, warmup);
    std::printf("| %s | %d | %.1f | %.1f | %.2f× | %.0f | %.2f | %.2f |\n", m.c_str(), batch,
                one.images_per_second, two.images_per_second,
                two.images_per_second / one.images_per_second, two.step_ms, two.allreduce_ms,
                two.allreduce_mb);
    std::fflush(stdout);
  }
  std::printf("\nafter: `%s`\n", Shell("uptime").c_str());
  return 0;
}

}  // namespace
}  // namespace latentsearch::trainer::distributed

int main(int argc, char** argv) { return latentsearch::trainer::distributed::Main(argc, argv); }

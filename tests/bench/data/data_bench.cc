// Reading the real data sets into memory. Goal: all 60,000 CIFAR-10 images in
// well under 2 s on a 2-core machine. Skips when the data is absent.
//
//   build/bench/data_bench [--benchmark_filter=Cifar]
#include <optional>
#include <string>

#include "benchmark/benchmark.h"
#include "common/data/cifar10.h"
#include "common/data/dataset.h"
#include "common/data/idx.h"
#include "common/testing/test_env.h"

namespace latentsearch::data {
namespace {

void ReportImages(benchmark::State& state, size_t images, size_t bytes) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * images));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// Times `read()` (returning StatusOr<Dataset>) once per iteration and reports
// images and bytes per second, labelled with the split.
template <typename Read>
void TimeReads(benchmark::State& state, Split split, Read read) {
  size_t images = 0, bytes = 0;
  for (auto _ : state) {
    absl::StatusOr<Dataset> d = read();
    if (!d.ok()) {
      state.SkipWithError(std::string(d.status().message()).c_str());
      return;
    }
    images = d->size();
    bytes = d->pixels.size();
    benchmark::DoNotOptimize(d->pixels.data());
  }
  ReportImages(state, images, bytes);
  state.SetLabel(std::string(SplitName(split)));
}

void BM_ReadCifar10(benchmark::State& state) {
  std::optional<std::string> dir = testing::Cifar10Dir();
  if (!dir) {
    state.SkipWithError("CIFAR-10 not found (set LS_CIFAR10_DIR)");
    return;
  }
  const Split split = static_cast<Split>(state.range(0));
  Cifar10Options options;
  options.num_threads = static_cast<int>(state.range(1));
  TimeReads(state, split, [&] { return ReadCifar10(*dir, split, options); });
}
// (split, threads): threads 0 = hardware concurrency.
BENCHMARK(BM_ReadCifar10)
    ->Args({static_cast<int>(Split::kAll), 0})
    ->Args({static_cast<int>(Split::kAll), 1})
    ->Args({static_cast<int>(Split::kTrain), 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_VerifyCifar10Checksums(benchmark::State& state) {
  std::optional<std::string> dir = testing::Cifar10Dir();
  if (!dir) {
    state.SkipWithError("CIFAR-10 not found (set LS_CIFAR10_DIR)");
    return;
  }
  for (auto _ : state) {
    absl::Status s = VerifyCifar10Checksums(*dir);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
  }
}
BENCHMARK(BM_VerifyCifar10Checksums)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ReadFashionMnist(benchmark::State& state) {
  std::optional<std::string> dir = testing::FashionMnistDir();
  if (!dir) {
    state.SkipWithError("Fashion-MNIST not found (install dataset-fashion-mnist)");
    return;
  }
  const Split split = static_cast<Split>(state.range(0));
  TimeReads(state, split, [&] { return ReadIdxDir(*dir, split); });
}
BENCHMARK(BM_ReadFashionMnist)
    ->Arg(static_cast<int>(Split::kAll))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_NormalizeBatch(benchmark::State& state) {
  // One training batch of 256 CIFAR-sized images, NCHW.
  Dataset d;
  d.source = "synthetic";
  d.height = d.width = 32;
  d.channels = 3;
  d.pixels.assign(256 * 3072, 0);
  for (size_t i = 0; i < d.pixels.size(); ++i) d.pixels[i] = static_cast<uint8_t>(i * 31);
  d.labels.assign(256, 0);
  d.class_names = {"x"};
  std::vector<float> out(d.pixels.size());
  const Layout layout = state.range(0) == 0 ? Layout::kNHWC : Layout::kNCHW;
  for (auto _ : state) {
    absl::Status s = NormalizeRange(d, 0, 256, layout, absl::MakeSpan(out));
    benchmark::DoNotOptimize(out.data());
    if (!s.ok()) state.SkipWithError("normalize failed");
  }
  ReportImages(state, 256, d.pixels.size());
  state.SetLabel(layout == Layout::kNHWC ? "NHWC" : "NCHW");
}
BENCHMARK(BM_NormalizeBatch)->Arg(0)->Arg(1);

}  // namespace
}  // namespace latentsearch::data

BENCHMARK_MAIN();

// Encoder benchmarks (run by hand; results and commands in docs/encoder.md).
//
//   forward  In-process forward throughput of the LibTorch runner (what a
//            batch costs, no gRPC, no batcher) for batch 1, 8, 32, 64, 256:
//            the ceiling.
//   grpc     The service on loopback (in-process server, real gRPC, the
//            dynamic batcher): 1, 8, 64 closed-loop clients each sending one
//            image per Encode; throughput, p50/p99 latency and mean batch
//            size, with batching (--max_batch_size) and without (1).
//   ratios   The goals' ratios, measured in --rounds interleaved rounds
//            (in-process batch 64, gRPC 64 clients batching, unbatched, and a
//            no-op RPC at 64 clients = this machine's gRPC ceiling), so slow
//            changes of background load hit both sides of each ratio; the
//            median per-round ratio is reported.
//   pinned   The same ratio with the load generator off the server's core:
//            the server (its gRPC threads, batcher and a 1-thread model) is
//            pinned to --server_cpu and the 64 client threads to
//            --client_cpu, and the in-process batch-64 ceiling is measured
//            on --server_cpu with 1 thread too; interleaved --rounds, the
//            median reported, with each CPU's busy share from /proc/stat.
//   swap     Closed-loop load at --swap_clients clients with --swaps pushes,
//            each after a quiet window: p99 of the requests that started
//            while a push was being received, loaded, warmed up and swapped
//            in, against the p99 of those that started in the quiet windows.
//
//   OMP_WAIT_POLICY=PASSIVE build/bench/encoder_bench --mode=all
//
// Everything runs on the machine's cores together (clients, gRPC, model);
// on a shared machine run it when it is otherwise idle.
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cli/load_gen.h"
#include "common/base/file.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "common/model/model.h"
#include "common/rpc/channel.h"
#include "common/rpc/server.h"
#include "grpcpp/client_context.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "services/encoder/encoder_core.h"
#include "services/encoder/encoder_service.h"
#include "services/encoder/model_runner.h"

ABSL_FLAG(std::string, mode, "all", "forward, grpc, ratios, pinned, swap or all");
ABSL_FLAG(std::string, arch, "conv", "Architecture (32x32x3, latent 10)");
ABSL_FLAG(double, seconds, 4, "Measured seconds per configuration");
ABSL_FLAG(int32_t, threads, 2, "LibTorch intra-op threads of the model");
ABSL_FLAG(std::string, batches, "1,8,32,64,256", "forward: batch sizes");
ABSL_FLAG(std::string, clients, "1,8,64", "grpc: client counts");
ABSL_FLAG(uint32_t, max_batch_size, 64, "grpc/swap: the batching configuration");
ABSL_FLAG(uint64_t, max_queue_delay_us, 500, "grpc/swap: the batching configuration");
ABSL_FLAG(int32_t, swap_clients, 64, "swap: concurrent clients");
ABSL_FLAG(int32_t, swaps, 5, "swap: pushes, each after a quiet window");
ABSL_FLAG(double, quiet_seconds, 1.5, "swap: quiet window before each push");
ABSL_FLAG(int32_t, load_nice, 10, "swap/grpc: loader thread niceness (as the binary's flag)");
ABSL_FLAG(int32_t, rounds, 5, "ratios: interleaved rounds");
ABSL_FLAG(int32_t, server_cpu, 0, "pinned: the CPU of the server and the in-process ceiling");
ABSL_FLAG(int32_t, client_cpu, 1, "pinned: the CPU of the load generator's threads");
ABSL_FLAG(std::string, data_dir, "/tmp/latentsearch-encoder-bench", "Scratch directory");

namespace latentsearch::encoder {
namespace {

constexpr int kSide = 32, kChannels = 3, kLatent = 10;
constexpr size_t kPer = kSide * kSide * kChannels;

model::Checkpoint MakeCheckpoint(uint64_t seed, uint64_t version) {
  model::ModelOptions options;
  options.seed = seed;
  auto m = *model::Model::Create({absl::GetFlag(FLAGS_arch), kLatent, {kSide, kSide, kChannels}},
                                 options);
  model::CheckpointMetadata meta;
  meta.model_name = "default";
  meta.version = version;
  meta.architecture = absl::GetFlag(FLAGS_arch);
  meta.latent_size = kLatent;
  meta.input_shape = {kSide, kSide, kChannels};
  return model::MakeCheckpoint(meta, *m->SerializeWeights());
}

std::vector<size_t> Sizes(const std::string& csv) {
  std::vector<size_t> out;
  for (absl::string_view s : absl::StrSplit(csv, ',')) out.push_back(std::stoul(std::string(s)));
  return out;
}

// ---------------------------------------------------------------------------

double ForwardThroughput(ModelRunner& runner, size_t batch, double seconds) {
  std::vector<float> images(batch * kPer);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0, 1);
  for (float& x : images) x = u(rng);
  std::vector<float> latents(batch * kLatent);
  for (int i = 0; i < 3; ++i) (void)runner.Encode(images, batch, absl::MakeSpan(latents));
  const absl::Time start = absl::Now();
  size_t done = 0;
  while (absl::Now() - start < absl::Seconds(seconds) || done < 3 * batch) {
    if (!runner.Encode(images, batch, absl::MakeSpan(latents)).ok()) return 0;
    done += batch;
  }
  return static_cast<double>(done) / absl::ToDoubleSeconds(absl::Now() - start);
}

std::map<size_t, double> RunForward() {
  std::map<size_t, double> out;
  model::SetThreads(absl::GetFlag(FLAGS_threads));
  auto runner = *TorchRunnerFactory(DeviceChoice())(MakeCheckpoint(1, 1));
  std::printf("\n## In-process forward (%s, 32x32x3, latent %d, %d intra-op threads)\n\n",
              absl::GetFlag(FLAGS_arch).c_str(), kLatent, absl::GetFlag(FLAGS_threads));
  std::printf("| batch | images/s |\n|---:|---:|\n");
  for (size_t b : Sizes(absl::GetFlag(FLAGS_batches))) {
    out[b] = ForwardThroughput(*runner, b, absl::GetFlag(FLAGS_seconds));
    std::printf("| %zu | %.0f |\n", b, out[b]);
    std::fflush(stdout);
  }
  return out;
}

// ---------------------------------------------------------------------------

// An in-process encoder on loopback.
struct Served {
  std::unique_ptr<EncoderCore> core;
  std::unique_ptr<EncoderService> service;
  std::unique_ptr<rpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;

  ~Served() {
    if (server) server->Shutdown(absl::Seconds(5));
    if (core) core->Shutdown();
  }
};

std::unique_ptr<Served> Serve(size_t max_batch, absl::Duration delay, const std::string& dir) {
  auto s = std::make_unique<Served>();
  std::filesystem::remove_all(dir);
  EncoderCoreOptions o;
  o.data_dir = dir;
  o.factory = TorchRunnerFactory(DeviceChoice());
  o.max_batch_size = max_batch;
  o.max_queue_delay = delay;
  const int threads = absl::GetFlag(FLAGS_threads);
  o.on_batch_thread_start = [threads](int) { model::SetThreads(threads); };
  const int nice = absl::GetFlag(FLAGS_load_nice);
  o.on_loader_start = [nice] {
    model::SetThreads(1);
    if (nice != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), nice);
  };
  s->core = *EncoderCore::Create(o);
  if (!s->core->registry().Push(MakeCheckpoint(1, 1)).ok()) std::abort();
  s->service = std::make_unique<EncoderService>(s->core.get());
  rpc::ServerOptions so;
  so.listen = "127.0.0.1:0";
  s->server = *rpc::Server::Start(so, {s->service.get()});
  s->channel = rpc::CreateChannel(s->server->address());
  return s;
}

v1::EncodeRequest OneImage() {
  v1::EncodeRequest r;
  v1::RawImage* raw = r.add_images()->mutable_raw();
  raw->set_height(kSide);
  raw->set_width(kSide);
  raw->set_channels(kChannels);
  std::string pixels(kPer, '\0');
  std::mt19937 rng(2);
  for (char& c : pixels) c = static_cast<char>(rng() & 0xff);
  raw->set_pixels(pixels);
  return r;
}

struct GrpcRow {
  cli::LoadStats stats;
  double mean_batch = 0;
};

// Pins the calling thread to `cpu`; false when the CPU does not exist.
bool PinThisThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
}

// `client_cpu` >= 0 pins every client thread there at its first call.
GrpcRow Load(Served& s, int clients, double seconds, int client_cpu = -1) {
  auto stub = v1::Encoder::NewStub(s.channel);
  const v1::EncodeRequest request = OneImage();
  std::atomic<uint64_t> batch_milli{0}, answered{0};
  GrpcRow row;
  row.stats = cli::RunLoad(
      [&](int, uint64_t call) -> absl::Status {
        if (call == 0 && client_cpu >= 0) PinThisThread(client_cpu);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::EncodeResponse response;
        grpc::Status st = stub->Encode(&ctx, request, &response);
        if (!st.ok())
          return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
        batch_milli.fetch_add(static_cast<uint64_t>(response.timing().batch_size() * 1000));
        answered.fetch_add(1);
        return absl::OkStatus();
      },
      clients, absl::Seconds(seconds), absl::Milliseconds(500));
  row.mean_batch = answered.load() ? batch_milli.load() / 1000.0 / answered.load() : 0;
  return row;
}

void PrintRow(const std::string& config, int clients, const GrpcRow& r) {
  std::printf("| %s | %d | %.0f | %.2f | %.2f | %.1f | %llu |\n", config.c_str(), clients,
              r.stats.qps, r.stats.p50_us / 1000.0, r.stats.p99_us / 1000.0, r.mean_batch,
              static_cast<unsigned long long>(r.stats.errors));
  std::fflush(stdout);
}

std::map<std::pair<int, int>, GrpcRow> RunGrpc() {
  std::map<std::pair<int, int>, GrpcRow> out;  // (batched?, clients)
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  const size_t max_batch = absl::GetFlag(FLAGS_max_batch_size);
  const absl::Duration delay = absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us));
  std::printf("\n## gRPC on loopback, 1 image per Encode\n\n");
  std::printf("| config | clients | images/s | p50 ms | p99 ms | mean batch | errors |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (int batched : {1, 0}) {
    auto served = batched ? Serve(max_batch, delay, dir) : Serve(1, absl::ZeroDuration(), dir);
    const std::string config =
        batched ? absl::StrFormat("batching (max %zu, %d us)", max_batch,
                                  static_cast<int>(absl::ToInt64Microseconds(delay)))
                : std::string("unbatched (max 1)");
    for (size_t c : Sizes(absl::GetFlag(FLAGS_clients))) {
      GrpcRow r = Load(*served, static_cast<int>(c), absl::GetFlag(FLAGS_seconds));
      PrintRow(config, static_cast<int>(c), r);
      out[{batched, static_cast<int>(c)}] = r;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

struct SwapResult {
  double quiet_p50 = 0, quiet_p99 = 0, swap_p50 = 0, swap_p99 = 0;
  size_t quiet_n = 0, swap_n = 0;
  int pushes = 0;
  uint64_t errors = 0;
  double mean_push_seconds = 0;
};

SwapResult RunSwap() {
  SwapResult out;
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  const int clients = absl::GetFlag(FLAGS_swap_clients);
  const int swaps = absl::GetFlag(FLAGS_swaps);
  auto served = Serve(absl::GetFlag(FLAGS_max_batch_size),
                      absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us)), dir);
  std::vector<model::Checkpoint> next;
  for (int v = 2; v < 2 + swaps; ++v) next.push_back(MakeCheckpoint(100 + v, v));

  struct Sample {
    absl::Time start;
    double micros;
  };
  std::vector<std::vector<Sample>> samples(clients);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  const v1::EncodeRequest request = OneImage();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = v1::Encoder::NewStub(served->channel);
      while (!stop.load()) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::EncodeResponse response;
        const absl::Time t0 = absl::Now();
        if (!stub->Encode(&ctx, request, &response).ok()) errors.fetch_add(1);
        samples[c].push_back({t0, absl::ToDoubleMicroseconds(absl::Now() - t0)});
      }
    });
  }
  std::vector<std::pair<absl::Time, absl::Time>> quiet, swapping;
  auto stub = v1::Encoder::NewStub(served->channel);
  absl::SleepFor(absl::Milliseconds(500));  // Warm-up of the load itself.
  double push_seconds = 0;
  for (const model::Checkpoint& c : next) {
    const absl::Time q0 = absl::Now();
    absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_quiet_seconds)));
    quiet.push_back({q0, absl::Now()});
    const absl::Time p0 = absl::Now();
    grpc::ClientContext ctx;
    v1::PushCheckpointResponse response;
    auto writer = stub->PushCheckpoint(&ctx, &response);
    v1::CheckpointChunk chunk;
    *chunk.mutable_metadata() = model::CheckpointMetadataToProto(c.metadata);
    writer->Write(chunk);
    chunk.set_data(c.weights);
    writer->Write(chunk);
    writer->WritesDone();
    if (writer->Finish().ok()) {
      ++out.pushes;
      push_seconds += response.load_seconds();
    }
    swapping.push_back({p0, absl::Now()});
  }
  stop = true;
  for (auto& t : threads) t.join();
  auto in = [](const std::vector<std::pair<absl::Time, absl::Time>>& windows, absl::Time t) {
    for (const auto& w : windows) {
      if (t >= w.first && t < w.second) return true;
    }
    return false;
  };
  std::vector<double> q, s;
  for (const auto& per : samples) {
    for (const Sample& x : per) {
      if (in(quiet, x.start)) q.push_back(x.micros);
      if (in(swapping, x.start)) s.push_back(x.micros);
    }
  }
  out.quiet_n = q.size();
  out.swap_n = s.size();
  out.quiet_p50 = Percentile(q, 0.5);
  out.quiet_p99 = Percentile(q, 0.99);
  out.swap_p50 = Percentile(s, 0.5);
  out.swap_p99 = Percentile(s, 0.99);
  out.errors = errors.load();
  out.mean_push_seconds = out.pushes ? push_seconds / out.pushes : 0;
  std::printf("\n## Encode during checkpoint swaps (%d clients, %d pushes, loader nice %d)\n\n",
              clients, out.pushes, absl::GetFlag(FLAGS_load_nice));
  std::printf("| requests started | requests | p50 ms | p99 ms |\n|---|---:|---:|---:|\n");
  std::printf("| in quiet windows | %zu | %.2f | %.2f |\n", out.quiet_n, out.quiet_p50 / 1000,
              out.quiet_p99 / 1000);
  std::printf("| during a push (receive, load, warm-up %.2f s, swap) | %zu | %.2f | %.2f |\n",
              out.mean_push_seconds, out.swap_n, out.swap_p50 / 1000, out.swap_p99 / 1000);
  std::printf("\nerrors: %llu\n", static_cast<unsigned long long>(out.errors));
  return out;
}

// ---------------------------------------------------------------------------

// A no-op RPC (ListModels) at `clients`: the gRPC ceiling of this machine.
cli::LoadStats NoOp(Served& s, int clients, double seconds, int client_cpu = -1) {
  auto stub = v1::Encoder::NewStub(s.channel);
  v1::ListModelsRequest request;
  request.set_name("none");  // An empty answer: only the RPC's own cost.
  return cli::RunLoad(
      [&](int, uint64_t call) -> absl::Status {
        if (call == 0 && client_cpu >= 0) PinThisThread(client_cpu);
        grpc::ClientContext ctx;
        v1::ListModelsResponse response;
        grpc::Status st = stub->ListModels(&ctx, request, &response);
        return st.ok() ? absl::OkStatus() : absl::UnknownError(st.error_message());
      },
      clients, absl::Seconds(seconds), absl::Milliseconds(300));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void RunRatios() {
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  const double seconds = std::max(1.0, absl::GetFlag(FLAGS_seconds) / 2);
  model::SetThreads(absl::GetFlag(FLAGS_threads));
  auto runner = *TorchRunnerFactory(DeviceChoice())(MakeCheckpoint(1, 1));
  auto batched = Serve(absl::GetFlag(FLAGS_max_batch_size),
                       absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us)), dir + "/b");
  auto unbatched = Serve(1, absl::ZeroDuration(), dir + "/u");
  std::vector<double> vs_forward, vs_unbatched, vs_ceiling;
  std::printf("\n## Interleaved rounds, 64 clients (images/s or RPCs/s)\n\n");
  std::printf(
      "| round | in-process batch 64 | gRPC batching | gRPC unbatched | no-op RPC | "
      "batching / in-process | batching / unbatched | batching / combined bound |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
    const double f = ForwardThroughput(*runner, 64, seconds);
    const double b = Load(*batched, 64, seconds).stats.qps;
    const double u = Load(*unbatched, 64, seconds).stats.qps;
    const double n = NoOp(*batched, 64, seconds).qps;
    // If forward passes and RPCs shared the cores with no other cost, the
    // best possible rate would be 1 / (1/f + 1/n).
    const double bound = 1.0 / (1.0 / f + 1.0 / n);
    vs_forward.push_back(b / f);
    vs_unbatched.push_back(b / u);
    vs_ceiling.push_back(b / bound);
    std::printf("| %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.2fx | %.2f |\n", r + 1, f, b, u, n,
                b / f, b / u, b / bound);
    std::fflush(stdout);
  }
  std::printf("\n- median gRPC batching / in-process batch 64: %.2f (goal >= 0.80)\n",
              Median(vs_forward));
  std::printf("- median gRPC batching / unbatched: %.2fx (goal >= 3x)\n", Median(vs_unbatched));
  std::printf("- median gRPC batching / combined bound 1/(1/forward + 1/no-op RPC): %.2f\n",
              Median(vs_ceiling));
}

// Busy and total jiffies of each CPU, from /proc/stat.
std::vector<std::pair<uint64_t, uint64_t>> CpuJiffies() {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] == ' ') continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t total = 0, idle = 0;
    for (size_t i = 1; i < f.size(); ++i) {
      const uint64_t v = std::stoull(f[i]);
      total += v;
      if (i == 4 || i == 5) idle += v;  // idle, iowait
    }
    out.push_back({total - idle, total});
  }
  return out;
}

double BusyShare(const std::vector<std::pair<uint64_t, uint64_t>>& a,
                 const std::vector<std::pair<uint64_t, uint64_t>>& b, int cpu) {
  if (cpu < 0 || static_cast<size_t>(cpu) >= std::min(a.size(), b.size())) return 0;
  const double total = static_cast<double>(b[cpu].second - a[cpu].second);
  return total > 0 ? (b[cpu].first - a[cpu].first) / total : 0;
}

void RunPinned() {
  const int server_cpu = absl::GetFlag(FLAGS_server_cpu);
  const int client_cpu = absl::GetFlag(FLAGS_client_cpu);
  // Every thread the server, the model and gRPC's own pools start from here
  // on inherits this CPU; the client threads move themselves to client_cpu.
  if (!PinThisThread(server_cpu)) {
    std::printf("pinned: cannot pin to CPU %d\n", server_cpu);
    return;
  }
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  const double seconds = std::max(1.0, absl::GetFlag(FLAGS_seconds) / 2);
  model::SetThreads(1);
  auto runner = *TorchRunnerFactory(DeviceChoice())(MakeCheckpoint(1, 1));
  const int saved_threads = absl::GetFlag(FLAGS_threads);
  absl::SetFlag(&FLAGS_threads, 1);  // Serve's batcher threads
  auto batched = Serve(absl::GetFlag(FLAGS_max_batch_size),
                       absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us)), dir + "/p");
  std::vector<double> ratios;
  std::printf("\n## Server on CPU %d (1 model thread), 64 clients on CPU %d\n\n", server_cpu,
              client_cpu);
  std::printf(
      "| round | in-process batch 64, 1 thread (img/s) | gRPC batching, 64 clients (img/s) | "
      "mean batch | CPU %d busy | CPU %d busy | no-op RPC/s | gRPC / in-process | "
      "gRPC / bound |\n",
      server_cpu, client_cpu);
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<double> vs_bound;
  for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
    const double f = ForwardThroughput(*runner, 64, seconds);
    const auto before = CpuJiffies();
    const GrpcRow g = Load(*batched, 64, seconds, client_cpu);
    const auto after = CpuJiffies();
    // The server's core does the forward passes and every RPC's server
    // side: at best 1 / (1/forward + 1/no-op) images/s.
    const double n = NoOp(*batched, 64, seconds, client_cpu).qps;
    const double bound = 1.0 / (1.0 / f + 1.0 / n);
    ratios.push_back(g.stats.qps / f);
    vs_bound.push_back(g.stats.qps / bound);
    std::printf("| %d | %.0f | %.0f | %.1f | %.0f %% | %.0f %% | %.0f | %.2f | %.2f |\n", r + 1, f,
                g.stats.qps, g.mean_batch, 100 * BusyShare(before, after, server_cpu),
                100 * BusyShare(before, after, client_cpu), n, g.stats.qps / f,
                g.stats.qps / bound);
    std::fflush(stdout);
  }
  std::printf(
      "\n- median gRPC batching / in-process batch 64 on the server's core: %.2f "
      "(goal >= 0.80)\n",
      Median(ratios));
  std::printf(
      "- median gRPC batching / bound 1/(1/forward + 1/no-op RPC), both on the server's "
      "core: %.2f\n",
      Median(vs_bound));
  absl::SetFlag(&FLAGS_threads, saved_threads);
}

}  // namespace
}  // namespace latentsearch::encoder

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace latentsearch::encoder;
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "forward" || mode == "all") RunForward();
  if (mode == "grpc" || mode == "all") RunGrpc();
  if (mode == "ratios" || mode == "all") RunRatios();
  if (mode == "pinned" || mode == "all") RunPinned();
  if (mode == "swap" || mode == "all") {
    SwapResult swap = RunSwap();
    if (swap.quiet_p99 > 0) {
      std::printf("- p99 during a push / without: %.2f (goal <= 1.5)\n",
                  swap.swap_p99 / swap.quiet_p99);
    }
  }
  return 0;
}

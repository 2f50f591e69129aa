// latentsearch-encoder: flags -> EncoderCoreOptions -> EncoderCore::Create
// (restores the stored models) -> serve through the common bootstrap until
// SIGTERM/SIGINT, then drain: in-flight RPCs finish (their batches still
// run), then the batcher and the loader stop.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/model/model.h"
#include "common/rpc/metrics.h"
#include "common/rpc/metrics_server.h"
#include "common/rpc/rpc_metrics.h"
#include "common/rpc/security.h"
#include "common/rpc/server.h"
#include "common/rpc/shutdown_signal.h"
#include "services/common/server_flags.h"
#include "services/encoder/encoder_core.h"
#include "services/encoder/encoder_metrics.h"
#include "services/encoder/encoder_service.h"
#include "services/encoder/model_runner.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "HOST:PORT or unix:PATH to serve on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, data_dir, "latentsearch-data/encoder",
          "Directory holding the received checkpoints (created if missing)");
ABSL_FLAG(std::string, device, "auto",
          "auto (CUDA when LibTorch has a device, else CPU), cpu or cuda");
ABSL_FLAG(uint32_t, max_batch_size, 32, "Most images in one forward pass");
ABSL_FLAG(uint64_t, max_queue_delay_us, 500,
          "How long the oldest queued image may wait for its batch to fill, microseconds");
ABSL_FLAG(uint32_t, max_queue_size, 4096,
          "Most images waiting per model version; beyond it requests are UNAVAILABLE");
ABSL_FLAG(int32_t, keep_versions, 2, "Model versions kept loaded per name");
ABSL_FLAG(uint32_t, max_images_per_request, 1024, "Most images in one Encode/Reconstruct");
ABSL_FLAG(int32_t, threads, 0, "LibTorch intra-op threads per batcher thread; 0 = all cores");
ABSL_FLAG(int32_t, batch_threads, 1, "Batcher threads (forward passes running at once)");
ABSL_FLAG(int32_t, load_threads, 1,
          "LibTorch intra-op threads for loading and warming up pushed checkpoints "
          "(kept low so a swap does not starve serving)");
ABSL_FLAG(int32_t, load_nice, 10,
          "Niceness of the loader thread (Linux, per thread): loading and warming up a "
          "pushed checkpoint yields the CPU to serving; 0 = same priority");
ABSL_FLAG(uint64_t, max_checkpoint_bytes, uint64_t{1} << 30,
          "Largest checkpoint (weights) a push may carry, bytes");
ABSL_FLAG(int32_t, max_message_bytes, 64 << 20,
          "Largest request message, bytes (1,024 raw 64x64 RGB images are 12 MiB)");
ABSL_FLAG(double, drain_seconds, 10, "On SIGTERM, how long in-flight RPCs may finish");

namespace {

constexpr char kServiceName[] = "latentsearch.v1.Encoder";

int Fail(const std::string& what) {
  std::fprintf(stderr, "latentsearch-encoder: %s\n", what.c_str());
  return 1;
}

void Log(const std::string& line) {
  std::fprintf(stderr, "latentsearch-encoder: %s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "latentsearch-encoder: versioned autoencoder models behind a dynamic batcher, "
      "over gRPC (latentsearch.v1.Encoder).");
  absl::ParseCommandLine(argc, argv);
  using latentsearch::encoder::EncoderCore;

  absl::StatusOr<latentsearch::encoder::DeviceChoice> device =
      latentsearch::encoder::ResolveDevice(absl::GetFlag(FLAGS_device));
  if (!device.ok()) return Fail(device.status().ToString());
  Log(absl::StrCat("device ", device->requested, " -> ", device->device,
                   device->note.empty() ? "" : absl::StrCat(" (", device->note, ")")));
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    Log("OMP_WAIT_POLICY is not set: OpenMP threads spin between batches; "
        "OMP_WAIT_POLICY=PASSIVE is kinder to a shared machine");
  }

  latentsearch::encoder::EncoderCoreOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.device = *device;
  options.factory = latentsearch::encoder::TorchRunnerFactory(*device);
  options.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.max_queue_delay = absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us));
  options.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  options.batch_threads = absl::GetFlag(FLAGS_batch_threads);
  options.keep_versions = absl::GetFlag(FLAGS_keep_versions);
  options.max_images_per_request = absl::GetFlag(FLAGS_max_images_per_request);
  options.max_checkpoint_bytes = absl::GetFlag(FLAGS_max_checkpoint_bytes);
  options.log = Log;
  // Declared before the core: the batcher's hook refers to them.
  latentsearch::rpc::MetricsRegistry metrics;
  latentsearch::rpc::RpcMetrics rpc_metrics(&metrics);
  latentsearch::encoder::EncoderMetrics encoder_metrics(&metrics);
  options.on_batch = encoder_metrics.BatchObserver();
  const int threads = absl::GetFlag(FLAGS_threads);
  options.on_batch_thread_start = [threads](int index) {
    latentsearch::model::ThreadSettings t = latentsearch::model::SetThreads(threads);
    Log(absl::StrCat("batcher thread ", index, ": ", t.intra_op, " intra-op thread(s), ", t.blas,
                     " BLAS thread(s)"));
  };
  const int load_threads = absl::GetFlag(FLAGS_load_threads);
  const int load_nice = absl::GetFlag(FLAGS_load_nice);
  options.on_loader_start = [load_threads, load_nice] {
    latentsearch::model::SetThreads(load_threads > 0 ? load_threads : 1);
    // On Linux a thread's niceness is its own (setpriority on its tid).
    if (load_nice != 0 &&
        setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), load_nice) != 0) {
      Log(absl::StrCat("--load_nice=", load_nice, " not applied: ", std::strerror(errno)));
    }
  };
  // Restoring at start runs on this thread.
  latentsearch::model::SetThreads(load_threads > 0 ? load_threads : 1);

  absl::StatusOr<std::unique_ptr<EncoderCore>> core = EncoderCore::Create(options);
  if (!core.ok()) return Fail(core.status().ToString());
  latentsearch::encoder::EncoderService service(core->get());
  encoder_metrics.ObserveCore(&(*core)->scheduler(), &(*core)->registry());

  latentsearch::rpc::ServerOptions server_options;
  server_options.listen = absl::GetFlag(FLAGS_listen);
  server_options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  server_options.health_names = {kServiceName};
  server_options.initially_not_serving = {kServiceName};
  if (absl::Status s = latentsearch::services::ApplySecurityFlags(&server_options); !s.ok()) {
    return Fail(s.ToString());
  }
  server_options.metrics = &rpc_metrics;
  auto metrics_server = latentsearch::services::StartMetricsFromFlags(&metrics);
  if (!metrics_server.ok()) return Fail(metrics_server.status().ToString());
  if (absl::Status s = latentsearch::rpc::ShutdownSignal::Install(); !s.ok()) {
    return Fail(s.ToString());
  }
  auto server = latentsearch::rpc::Server::Start(server_options, {&service});
  if (!server.ok()) return Fail(server.status().ToString());
  latentsearch::rpc::Server* srv = server->get();
  (*core)->SetReadinessListener([srv](bool ready) { srv->SetServing(kServiceName, ready); });
  const auto snapshot = (*core)->registry().snapshot();
  Log(absl::StrCat("listening on ", srv->address(), " (data_dir ", options.data_dir, ", ",
                   snapshot->models.size(), " model name(s) restored",
                   snapshot->empty() ? "; NOT_SERVING until a checkpoint is pushed" : "", ", ",
                   latentsearch::rpc::DescribeServerSecurity(server_options.security), ")"));
  // After the gRPC line: tests take the first "listening on" as the gRPC address.
  if (*metrics_server != nullptr) {
    Log(absl::StrCat("metrics listening on ", (*metrics_server)->address()));
  }

  int sig = latentsearch::rpc::ShutdownSignal::Wait();
  Log(absl::StrCat("signal ", sig, ", draining"));
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)));
  (*core)->Shutdown();
  (*core)->SetReadinessListener(nullptr);
  if (*metrics_server != nullptr) (*metrics_server)->Stop();
  Log("stopped");
  return 0;
}

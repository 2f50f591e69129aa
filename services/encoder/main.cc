// latentsearch-encoder: flags -> EncoderCoreOptions -> EncoderCore::Create
// (restores the stored models) -> with --pull_from, one VersionSync pass
// (the versions this replica lacks, from the trainer's store) before the
// server listens, then one every --pull_interval_seconds -> serve through
// the shared bootstrap (services/common/service_main.h) until
// SIGTERM/SIGINT, then drain: in-flight RPCs finish (their batches still
// run), then the sync, the batcher and the loader stop.
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/model/model.h"
#include "services/common/service_main.h"
#include "services/encoder/encoder_core.h"
#include "services/encoder/encoder_metrics.h"
#include "services/encoder/encoder_service.h"
#include "services/encoder/grpc_checkpoint_source.h"
#include "services/encoder/model_runner.h"
#include "services/encoder/version_sync.h"

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
ABSL_FLAG(std::string, pull_from, "",
          "Trainer (any gRPC target) whose newest --keep_versions checkpoints of every model "
          "this replica lacks are fetched before it starts serving and every "
          "--pull_interval_seconds after (a replica that was down or starts on an empty "
          "disk catches up); empty = only pushes");
ABSL_FLAG(double, pull_timeout_seconds, 60,
          "Longest wait for the pull before serving; on timeout or error the replica serves "
          "what it holds and the background pulls keep trying");
ABSL_FLAG(double, pull_interval_seconds, 30,
          "Seconds between background pulls from --pull_from; 0 = only at start");
ABSL_FLAG(bool, pull_tls, false, "Dial --pull_from with TLS (system roots unless --pull_tls_ca)");
ABSL_FLAG(std::string, pull_tls_ca, "", "PEM CA the trainer's certificate must chain to");
ABSL_FLAG(std::string, pull_tls_cert, "", "PEM client certificate for the trainer (mutual TLS)");
ABSL_FLAG(std::string, pull_tls_key, "", "PEM private key of --pull_tls_cert");
ABSL_FLAG(std::string, pull_tls_server_name, "",
          "Name the trainer's certificate must carry, if not the host of --pull_from");
ABSL_FLAG(std::string, pull_token_file, "",
          "File whose first token is sent to the trainer as 'authorization: Bearer TOKEN'");
ABSL_FLAG(double, max_connection_age_seconds, 0,
          "Ask each client to reconnect after this many seconds (GOAWAY; calls in flight "
          "finish), so clients of a dns: target look it up again and reach replicas added "
          "since; 0 = never");
ABSL_FLAG(std::string, precision, "auto",
          "How each model version computes: auto (when a version is first loaded, time "
          "probe images in fp32 and bf16 and keep the faster, bf16 only if its embeddings "
          "stay within cosine 0.999 and its top-10 neighbours overlap >= 0.95; kept with "
          "the version across restarts; docs/encoder.md), fp32, or bf16 (autocast)");
ABSL_FLAG(int32_t, max_message_bytes, 64 << 20,
          "Largest request message, bytes (1,024 raw 64x64 RGB images are 12 MiB)");

namespace latentsearch::encoder {
namespace {

constexpr char kServiceName[] = "latentsearch.v1.Encoder";
constexpr char kUsage[] =
    "latentsearch-encoder: versioned autoencoder models behind a dynamic batcher, "
    "over gRPC (latentsearch.v1.Encoder).";

// Per-thread LibTorch settings: batcher threads run --threads intra-op
// threads; the loader runs --load_threads at --load_nice.
void SetThreadHooks(EncoderCoreOptions* options) {
  const int threads = absl::GetFlag(FLAGS_threads);
  options->on_batch_thread_start = [threads](int index) {
    model::ThreadSettings t = model::SetThreads(threads);
    LOG(INFO) << "batcher thread " << index << ": " << t.intra_op << " intra-op thread(s), "
              << t.blas << " BLAS thread(s)";
  };
  const int load_threads = absl::GetFlag(FLAGS_load_threads);
  const int load_nice = absl::GetFlag(FLAGS_load_nice);
  options->on_loader_start = [load_threads, load_nice] {
    model::SetThreads(load_threads > 0 ? load_threads : 1);
    // On Linux a thread's niceness is its own (setpriority on its tid).
    if (load_nice != 0 &&
        setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), load_nice) != 0) {
      LOG(WARNING) << "--load_nice=" << load_nice << " not applied: " << std::strerror(errno);
    }
  };
  // Restoring at start runs on main's thread.
  model::SetThreads(load_threads > 0 ? load_threads : 1);
}

absl::StatusOr<EncoderCoreOptions> OptionsFromFlags() {
  absl::StatusOr<DeviceChoice> device = ResolveDevice(absl::GetFlag(FLAGS_device));
  if (!device.ok()) return device.status();
  LOG(INFO) << "device " << device->requested << " -> " << device->device
            << (device->note.empty() ? "" : absl::StrCat(" (", device->note, ")"));
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    LOG(WARNING) << "OMP_WAIT_POLICY is not set: OpenMP threads spin between batches; "
                    "OMP_WAIT_POLICY=PASSIVE is kinder to a shared machine";
  }
  EncoderCoreOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.device = *device;
  options.factory = TorchRunnerFactory(*device);
  options.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.max_queue_delay = absl::Microseconds(absl::GetFlag(FLAGS_max_queue_delay_us));
  options.max_queue_size = absl::GetFlag(FLAGS_max_queue_size);
  options.batch_threads = absl::GetFlag(FLAGS_batch_threads);
  options.keep_versions = absl::GetFlag(FLAGS_keep_versions);
  options.max_images_per_request = absl::GetFlag(FLAGS_max_images_per_request);
  options.max_checkpoint_bytes = absl::GetFlag(FLAGS_max_checkpoint_bytes);
  absl::StatusOr<model::Precision> precision =
      model::ParsePrecision(absl::GetFlag(FLAGS_precision));
  if (!precision.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--precision: ", precision.status().message()));
  }
  options.precision = *precision;
  SetThreadHooks(&options);
  return options;
}

// The pull from --pull_from (nullptr when it is empty): one pass now,
// before the server listens, bounded by --pull_timeout_seconds.
struct Pull {
  std::unique_ptr<GrpcCheckpointSource> source;
  std::unique_ptr<VersionSync> sync;
};
absl::StatusOr<std::unique_ptr<Pull>> PullAtStart(EncoderCore* core, EncoderMetrics* metrics) {
  const std::string from = absl::GetFlag(FLAGS_pull_from);
  if (from.empty()) return nullptr;
  const double timeout = absl::GetFlag(FLAGS_pull_timeout_seconds);
  const double interval = absl::GetFlag(FLAGS_pull_interval_seconds);
  if (!std::isfinite(timeout) || timeout <= 0 || !std::isfinite(interval) || interval < 0) {
    return absl::InvalidArgumentError(
        "--pull_timeout_seconds must be > 0 and --pull_interval_seconds >= 0");
  }
  LS_ASSIGN_OR_RETURN(
      rpc::ClientSecurityOptions security,
      rpc::ClientSecurityFromFiles(
          absl::GetFlag(FLAGS_pull_tls), absl::GetFlag(FLAGS_pull_tls_ca),
          absl::GetFlag(FLAGS_pull_tls_cert), absl::GetFlag(FLAGS_pull_tls_key),
          absl::GetFlag(FLAGS_pull_tls_server_name), "", absl::GetFlag(FLAGS_pull_token_file)));
  auto pull = std::make_unique<Pull>();
  LS_ASSIGN_OR_RETURN(pull->source, GrpcCheckpointSource::Create(
                                        from, security, core->options().max_checkpoint_bytes));
  VersionSyncOptions o;
  o.source = pull->source.get();
  o.registry = &core->registry();
  o.keep_versions = core->options().keep_versions;
  o.interval = absl::Seconds(interval);
  o.on_pass = metrics->PullObserver();
  LS_ASSIGN_OR_RETURN(pull->sync, VersionSync::Create(o));
  absl::StatusOr<SyncReport> r = pull->sync->SyncOnce(absl::Now() + absl::Seconds(timeout));
  if (r.ok()) {
    LOG(INFO) << r->Summary(pull->source->Describe());
  } else {
    LOG(WARNING) << "pull at start: " << r.status() << "; serving what is held"
                 << (interval > 0 ? ", pulling again in the background" : "");
  }
  return pull;
}

int Main(int argc, char** argv) {
  services::ServiceMain m("latentsearch-encoder");
  if (absl::Status s = m.Init(argc, argv, kUsage); !s.ok()) return m.Fail(s);
  absl::StatusOr<EncoderCoreOptions> options = OptionsFromFlags();
  if (!options.ok()) return m.Fail(options.status());
  EncoderMetrics encoder_metrics(m.metrics());  // Before the core: its hook refers to it.
  options->on_batch = encoder_metrics.BatchObserver();
  absl::StatusOr<std::unique_ptr<EncoderCore>> core = EncoderCore::Create(*options);
  if (!core.ok()) return m.Fail(core.status());
  absl::StatusOr<std::unique_ptr<Pull>> pull = PullAtStart(core->get(), &encoder_metrics);
  if (!pull.ok()) return m.Fail(pull.status());
  EncoderService service(core->get());
  encoder_metrics.ObserveCore(&(*core)->scheduler(), &(*core)->registry());
  rpc::ServerOptions serve;
  serve.listen = absl::GetFlag(FLAGS_listen);
  serve.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  const double age = absl::GetFlag(FLAGS_max_connection_age_seconds);
  if (!std::isfinite(age) || age < 0) {
    return m.Fail(absl::InvalidArgumentError("--max_connection_age_seconds must be >= 0"));
  }
  serve.max_connection_age = absl::Seconds(age);
  serve.health_names = {kServiceName};
  serve.initially_not_serving = {kServiceName};  // Until a model is loaded.
  if (absl::Status s = m.Start(serve, {&service}); !s.ok()) return m.Fail(s);
  rpc::Server* server = m.server();
  (*core)->SetReadinessListener([server](bool ready) { server->SetServing(kServiceName, ready); });
  const auto snapshot = (*core)->registry().snapshot();
  m.Announce(absl::StrCat("data_dir ", options->data_dir, ", ", snapshot->models.size(),
                          " model name(s) restored",
                          snapshot->empty() ? "; NOT_SERVING until a checkpoint is pushed" : ""));
  if (*pull != nullptr && absl::GetFlag(FLAGS_pull_interval_seconds) > 0) (*pull)->sync->Start();
  return m.WaitAndDrain(nullptr, [&core, &pull] {
    if (*pull != nullptr) (*pull)->sync->Stop();
    (*core)->Shutdown();
    (*core)->SetReadinessListener(nullptr);
  });
}

}  // namespace
}  // namespace latentsearch::encoder

int main(int argc, char** argv) { return latentsearch::encoder::Main(argc, argv); }

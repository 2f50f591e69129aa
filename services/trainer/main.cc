// latentsearch-trainer: flags -> TrainerOptions -> TrainerCore::Create ->
// serve latentsearch.v1.Trainer until SIGTERM/SIGINT, then stop the running
// job at its next step and drain. `--describe=ARCH` prints a model summary
// and exits; `--push_file=FILE` pushes a checkpoint file to --push_to and exits.
// No LibTorch header is included here.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/model/checkpoint.h"
#include "common/model/model.h"
#include "common/rpc/metrics.h"
#include "common/rpc/metrics_server.h"
#include "common/rpc/rpc_metrics.h"
#include "common/rpc/security.h"
#include "common/rpc/server.h"
#include "common/rpc/shutdown_signal.h"
#include "services/common/server_flags.h"
#include "services/trainer/push_client.h"
#include "services/trainer/trainer_core.h"
#include "services/trainer/trainer_metrics.h"
#include "services/trainer/trainer_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "HOST:PORT or unix:PATH to serve on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, data_dir, "latentsearch-data/trainer",
          "Directory of the checkpoint store (<data_dir>/checkpoints/<name>/)");
ABSL_FLAG(std::string, push_to, "",
          "Comma-separated encoder addresses every new checkpoint is pushed to");
ABSL_FLAG(std::string, describe, "",
          "Print the named architecture as a table (layers, shapes, parameters) and exit");
ABSL_FLAG(int32_t, latent, 0, "With --describe: latent size (0 = the default, 10)");
ABSL_FLAG(std::string, input, "32x32x3", "With --describe: input shape HxWxC");
ABSL_FLAG(int32_t, threads, 0, "Intra-op threads for jobs that ask for 0; 0 = the cores");
ABSL_FLAG(std::string, precision, "fp32",
          "Training precision: fp32, or bf16 (autocast; measured option, see "
          "docs/training.md)");
ABSL_FLAG(std::string, formulation, "phase_split",
          "How seed's transposed convolutions run: plain, phase_conv, phase_split "
          "(same function)");
ABSL_FLAG(bool, cuda, true, "Train on CUDA when LibTorch has a usable device");
ABSL_FLAG(int32_t, push_attempts, 6, "Attempts per checkpoint and encoder");
ABSL_FLAG(double, push_backoff_seconds, 0.5,
          "Wait before the 2nd push attempt; doubles per attempt (max 30 s)");
ABSL_FLAG(double, push_deadline_seconds, 120,
          "Deadline of one push attempt: streaming, verification and the encoder's load and "
          "warm-up of the model (raise it for large models or loaded encoders)");
ABSL_FLAG(double, drain_seconds, 10, "On SIGTERM, how long in-flight RPCs may finish");
ABSL_FLAG(bool, push_tls, false,
          "Push to the encoders with TLS (system roots unless --push_tls_ca)");
ABSL_FLAG(std::string, push_tls_ca, "",
          "PEM CA the encoders' certificates must chain to (implies TLS)");
ABSL_FLAG(std::string, push_tls_cert, "", "PEM client certificate for the encoders (mutual TLS)");
ABSL_FLAG(std::string, push_tls_key, "", "PEM private key of --push_tls_cert");
ABSL_FLAG(std::string, push_tls_server_name, "",
          "Name the encoders' certificates must carry, if not the host of the address");
ABSL_FLAG(std::string, push_token_file, "",
          "File whose first token is sent to the encoders as 'authorization: Bearer TOKEN'");
ABSL_FLAG(std::string, push_file, "",
          "Push this checkpoint file (a trainer data dir's checkpoints/NAME/vNNNNNN.ckpt, or "
          "one written elsewhere) to the --push_to encoders, print the outcome per encoder "
          "and exit; exit status 1 when any push failed");
ABSL_FLAG(std::string, push_model, "",
          "With --push_file: the model name to push it as ('' = the name in the file)");

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "latentsearch-trainer: %s\n", what.c_str());
  return 1;
}

int Describe() {
  namespace model = latentsearch::model;
  absl::StatusOr<model::InputShape> input = model::ParseInputShape(absl::GetFlag(FLAGS_input));
  if (!input.ok()) return Fail(input.status().ToString());
  model::ModelSpec spec{absl::GetFlag(FLAGS_describe), absl::GetFlag(FLAGS_latent), *input};
  absl::StatusOr<model::ModelSummary> summary = model::Describe(spec);
  if (!summary.ok()) return Fail(summary.status().ToString());
  std::fputs(model::FormatSummary(*summary).c_str(), stdout);
  return 0;
}

// --push_file: one checkpoint file to every --push_to encoder, with the
// trainer's own pusher (TLS/token flags apply). Each encoder stores it as its
// next version of the name.
int PushFile(const std::vector<std::string>& targets,
             const latentsearch::trainer::GrpcPusherOptions& options) {
  namespace model = latentsearch::model;
  const std::string path = absl::GetFlag(FLAGS_push_file);
  if (targets.empty()) {
    return Fail("--push_file needs --push_to=HOST:PORT[,HOST:PORT...] (the encoders)");
  }
  absl::StatusOr<model::Checkpoint> checkpoint = model::ReadCheckpointFile(path);
  if (!checkpoint.ok()) return Fail(checkpoint.status().ToString());
  const std::string name = absl::GetFlag(FLAGS_push_model);
  if (!name.empty()) {
    if (absl::Status s = model::ValidateModelName(name); !s.ok()) {
      return Fail("--push_model: " + s.ToString());
    }
    checkpoint->metadata.model_name = name;
  }
  latentsearch::trainer::GrpcCheckpointPusher pusher(options);
  int failed = 0;
  for (const std::string& target : targets) {
    absl::Status s = pusher.Push(target, *checkpoint);
    if (s.ok()) {
      std::printf("pushed %s (%s, latent %d) as model '%s' to %s\n", path.c_str(),
                  checkpoint->metadata.architecture.c_str(), checkpoint->metadata.latent_size,
                  checkpoint->metadata.model_name.c_str(), target.c_str());
    } else {
      ++failed;
      std::fprintf(stderr, "latentsearch-trainer: push of %s to %s failed: %s\n", path.c_str(),
                   target.c_str(), s.ToString().c_str());
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "latentsearch-trainer: trains autoencoders (latentsearch.v1.Trainer), stores "
      "versioned checkpoints and pushes them to encoders.\n"
      "  latentsearch-trainer --describe=seed [--latent=10] [--input=32x32x3]\n"
      "  latentsearch-trainer --push_file=FILE --push_to=HOST:PORT [--push_model=NAME]");
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_describe).empty()) return Describe();
  latentsearch::model::TuneAllocatorForTraining();
  namespace trainer = latentsearch::trainer;

  trainer::TrainerOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  for (absl::string_view t :
       absl::StrSplit(absl::GetFlag(FLAGS_push_to), ',', absl::SkipWhitespace())) {
    options.push_to.emplace_back(t);
  }
  absl::StatusOr<latentsearch::rpc::ClientSecurityOptions> push_security =
      latentsearch::rpc::ClientSecurityFromFiles(
          absl::GetFlag(FLAGS_push_tls), absl::GetFlag(FLAGS_push_tls_ca),
          absl::GetFlag(FLAGS_push_tls_cert), absl::GetFlag(FLAGS_push_tls_key),
          absl::GetFlag(FLAGS_push_tls_server_name), "", absl::GetFlag(FLAGS_push_token_file));
  if (!push_security.ok()) return Fail("push: " + push_security.status().ToString());
  trainer::GrpcPusherOptions pusher_options;
  pusher_options.security = *push_security;
  const double push_deadline = absl::GetFlag(FLAGS_push_deadline_seconds);
  if (!std::isfinite(push_deadline) || push_deadline <= 0) {
    return Fail(absl::StrCat("--push_deadline_seconds=", push_deadline, ": expected seconds > 0"));
  }
  pusher_options.deadline = absl::Seconds(push_deadline);
  if (!absl::GetFlag(FLAGS_push_file).empty()) return PushFile(options.push_to, pusher_options);
  options.pusher = std::make_shared<trainer::GrpcCheckpointPusher>(pusher_options);
  // Declared before the core: its hooks refer to them.
  latentsearch::rpc::MetricsRegistry metrics;
  latentsearch::rpc::RpcMetrics rpc_metrics(&metrics);
  trainer::TrainerMetrics trainer_metrics(&metrics);
  options.on_step = [&trainer_metrics](const std::string& model, const trainer::StepInfo& s) {
    trainer_metrics.OnStep(model, s);
  };
  options.on_epoch = [&trainer_metrics](const std::string& model, const trainer::EpochInfo& e) {
    trainer_metrics.OnEpoch(model, e);
  };
  options.backoff.max_attempts = absl::GetFlag(FLAGS_push_attempts);
  options.backoff.initial = absl::Seconds(absl::GetFlag(FLAGS_push_backoff_seconds));
  options.default_threads = absl::GetFlag(FLAGS_threads);
  options.use_cuda_if_available = absl::GetFlag(FLAGS_cuda);
  const std::string precision = absl::GetFlag(FLAGS_precision);
  if (precision == "bf16") {
    options.precision = trainer::Precision::kBFloat16;
  } else if (precision != "fp32") {
    return Fail("--precision must be fp32 or bf16, not '" + precision + "'");
  }
  absl::StatusOr<latentsearch::model::Formulation> formulation =
      latentsearch::model::ParseFormulation(absl::GetFlag(FLAGS_formulation));
  if (!formulation.ok()) return Fail(formulation.status().ToString());
  options.formulation = *formulation;

  absl::StatusOr<std::unique_ptr<trainer::TrainerCore>> core =
      trainer::TrainerCore::Create(options);
  if (!core.ok()) return Fail(core.status().ToString());
  trainer::TrainerService service(core->get());

  latentsearch::rpc::ServerOptions server_options;
  server_options.listen = absl::GetFlag(FLAGS_listen);
  server_options.health_names = {"latentsearch.v1.Trainer"};
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
  std::fprintf(stderr,
               "latentsearch-trainer: listening on %s (data_dir %s, pushing to %zu "
               "encoder(s), CUDA %s, %s)\n",
               (*server)->address().c_str(), options.data_dir.c_str(), options.push_to.size(),
               latentsearch::model::CudaAvailable() ? "available" : "not available",
               latentsearch::rpc::DescribeServerSecurity(server_options.security).c_str());
  // After the gRPC line: tests take the first "listening on" as the gRPC address.
  if (*metrics_server != nullptr) {
    std::fprintf(stderr, "latentsearch-trainer: metrics listening on %s\n",
                 (*metrics_server)->address().c_str());
  }
  std::fflush(stderr);

  const int sig = latentsearch::rpc::ShutdownSignal::Wait();
  std::fprintf(stderr, "latentsearch-trainer: signal %d, stopping the running job\n", sig);
  (*core)->Shutdown();  // Stop at the next step; watch streams end.
  (*server)->Shutdown(absl::Seconds(absl::GetFlag(FLAGS_drain_seconds)));
  if (*metrics_server != nullptr) (*metrics_server)->Stop();
  std::fprintf(stderr, "latentsearch-trainer: stopped\n");
  return 0;
}

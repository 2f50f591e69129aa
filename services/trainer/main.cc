// latentsearch-trainer: flags -> TrainerOptions -> TrainerCore::Create ->
// serve latentsearch.v1.Trainer through the shared bootstrap
// (services/common/service_main.h) until SIGTERM/SIGINT, then stop the
// running job at its next step and drain. `--describe=ARCH` prints a model
// summary and exits; `--push_file=FILE` pushes a checkpoint file to
// --push_to and exits. No LibTorch header is included here.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/base/logging.h"
#include "common/base/status_macros.h"
#include "common/model/checkpoint.h"
#include "common/model/model.h"
#include "common/rpc/security.h"
#include "services/common/service_main.h"
#include "services/trainer/distributed/coordinator.h"
#include "services/trainer/distributed/follower.h"
#include "services/trainer/push_client.h"
#include "services/trainer/push_targets.h"
#include "services/trainer/trainer_core.h"
#include "services/trainer/trainer_metrics.h"
#include "services/trainer/trainer_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "HOST:PORT or unix:PATH to serve on; port 0 picks a free port (logged)");
ABSL_FLAG(std::string, data_dir, "latentsearch-data/trainer",
          "Directory of the checkpoint store (<data_dir>/checkpoints/<name>/)");
ABSL_FLAG(std::string, push_to, "",
          "Encoders every new checkpoint is pushed to, comma-separated: HOST:PORT, unix:PATH "
          "or dns:///NAME:PORT (every replica NAME resolves to, looked up again at each push)");
ABSL_FLAG(std::string, describe, "",
          "Print the named architecture as a table (layers, shapes, parameters) and exit");
ABSL_FLAG(int32_t, latent, 0, "With --describe: latent size (0 = the default, 10)");
ABSL_FLAG(std::string, input, "32x32x3", "With --describe: input shape HxWxC");
ABSL_FLAG(int32_t, threads, 0, "Intra-op threads for jobs that ask for 0; 0 = the cores");
ABSL_FLAG(std::string, precision, "auto",
          "Training precision: auto (time a few trial steps of each job in fp32 and bf16 "
          "and keep the faster, bf16 only if its loss stays within 2% of fp32's; "
          "docs/training.md), fp32, or bf16 (autocast)");
ABSL_FLAG(std::string, formulation, "phase_split",
          "How seed's transposed convolutions run: plain, phase_conv, phase_split "
          "(same function)");
ABSL_FLAG(bool, cuda, true, "Train on CUDA when LibTorch has a usable device");
ABSL_FLAG(uint64_t, snapshot_every_steps, 100,
          "Training snapshot (what ResumeTraining continues from) every N steps, besides one at "
          "every epoch end; 0 = epoch ends only");
ABSL_FLAG(int32_t, push_attempts, 6, "Attempts per checkpoint and encoder");
ABSL_FLAG(double, push_backoff_seconds, 0.5,
          "Wait before the 2nd push attempt; doubles per attempt (max 30 s)");
ABSL_FLAG(double, push_deadline_seconds, 120,
          "Deadline of one push attempt: streaming, verification and the encoder's load and "
          "warm-up of the model (raise it for large models or loaded encoders)");
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

ABSL_FLAG(int32_t, world_size, -1,
          "Data parallelism: trainer ranks in the group (-1 = $WORLD_SIZE, else 1). Rank 0 serves "
          "the Trainer API; every job runs on all ranks; batch_size is per rank");
ABSL_FLAG(int32_t, rank, -1, "This process's rank in [0, world_size) (-1 = $RANK, else 0)");
ABSL_FLAG(std::string, master_addr, "",
          "Rank 0's host, where it serves the group's c10d TCPStore ('' = $MASTER_ADDR, else "
          "127.0.0.1)");
ABSL_FLAG(int32_t, master_port, -1,
          "Port of the group's TCPStore on rank 0 (-1 = $MASTER_PORT, else 29500)");
ABSL_FLAG(std::string, dist_host, "",
          "Address this rank's Gloo connections use, reachable from every rank ('' = 127.0.0.1 "
          "when master_addr is loopback, else this machine's hostname)");
ABSL_FLAG(double, rendezvous_timeout_seconds, 60,
          "How long rank 0 waits for the other ranks to join (a missing rank or a wrong world "
          "size is an error after this)");
ABSL_FLAG(double, collective_timeout_seconds, 60,
          "A rank that hangs fails the job (naming it) after this many seconds, at most 120; a "
          "rank that dies fails it within a few seconds");
ABSL_FLAG(int32_t, allreduce_bucket_mb, 25, "Gradients per all-reduce bucket, in MiB");

namespace latentsearch::trainer {
namespace {

constexpr char kUsage[] =
    "latentsearch-trainer: trains autoencoders (latentsearch.v1.Trainer), stores "
    "versioned checkpoints and pushes them to encoders.\n"
    "  latentsearch-trainer --describe=seed [--latent=10] [--input=32x32x3]\n"
    "  latentsearch-trainer --push_file=FILE --push_to=HOST:PORT [--push_model=NAME]";

// --describe: the architecture's table on stdout.
absl::Status Describe() {
  LS_ASSIGN_OR_RETURN(model::InputShape input, model::ParseInputShape(absl::GetFlag(FLAGS_input)));
  model::ModelSpec spec{absl::GetFlag(FLAGS_describe), absl::GetFlag(FLAGS_latent), input};
  LS_ASSIGN_OR_RETURN(model::ModelSummary summary, model::Describe(spec));
  std::fputs(model::FormatSummary(summary).c_str(), stdout);
  return absl::OkStatus();
}

// --push_file: one checkpoint file to every --push_to encoder, with the
// trainer's own pusher (TLS/token flags apply). Each encoder stores it as its
// next version of the name. FAILED_PRECONDITION when any push failed.
absl::Status PushFile(const std::vector<std::string>& targets, const GrpcPusherOptions& options) {
  const std::string path = absl::GetFlag(FLAGS_push_file);
  if (targets.empty()) {
    return absl::InvalidArgumentError(
        "--push_file needs --push_to=HOST:PORT[,HOST:PORT...] (the encoders)");
  }
  std::vector<std::string> replicas;  // Every replica of a dns: name or list.
  for (const std::string& t : targets) {
    LS_ASSIGN_OR_RETURN(std::vector<std::string> r, ExpandPushTarget(t, ResolveHost));
    replicas.insert(replicas.end(), r.begin(), r.end());
  }
  LS_ASSIGN_OR_RETURN(model::Checkpoint checkpoint, model::ReadCheckpointFile(path));
  const std::string name = absl::GetFlag(FLAGS_push_model);
  if (!name.empty()) {
    if (absl::Status s = model::ValidateModelName(name); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--push_model: ", s.message()));
    }
    checkpoint.metadata.model_name = name;
  }
  GrpcCheckpointPusher pusher(options);
  int failed = 0;
  for (const std::string& target : replicas) {
    absl::Status s = pusher.Push(target, checkpoint);
    if (s.ok()) {
      std::printf("pushed %s (%s, latent %d) as model '%s' to %s\n", path.c_str(),
                  checkpoint.metadata.architecture.c_str(), checkpoint.metadata.latent_size,
                  checkpoint.metadata.model_name.c_str(), target.c_str());
    } else {
      ++failed;
      LOG(ERROR) << "push of " << path << " to " << target << " failed: " << s;
    }
  }
  if (failed == 0) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(failed, " of ", replicas.size(), " push(es) of ", path, " failed"));
}

// The pusher's TLS/token and deadline flags.
absl::StatusOr<GrpcPusherOptions> PusherOptionsFromFlags() {
  absl::StatusOr<rpc::ClientSecurityOptions> security = rpc::ClientSecurityFromFiles(
      absl::GetFlag(FLAGS_push_tls), absl::GetFlag(FLAGS_push_tls_ca),
      absl::GetFlag(FLAGS_push_tls_cert), absl::GetFlag(FLAGS_push_tls_key),
      absl::GetFlag(FLAGS_push_tls_server_name), "", absl::GetFlag(FLAGS_push_token_file));
  if (!security.ok()) {
    return absl::Status(security.status().code(),
                        absl::StrCat("push: ", security.status().message()));
  }
  GrpcPusherOptions options;
  options.security = *security;
  const double deadline = absl::GetFlag(FLAGS_push_deadline_seconds);
  if (!std::isfinite(deadline) || deadline <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--push_deadline_seconds=", deadline, ": expected seconds > 0"));
  }
  options.deadline = absl::Seconds(deadline);
  return options;
}

// --push_to: the encoders' addresses.
std::vector<std::string> PushTargetsFromFlags() {
  std::vector<std::string> targets;
  for (absl::string_view t :
       absl::StrSplit(absl::GetFlag(FLAGS_push_to), ',', absl::SkipWhitespace())) {
    targets.emplace_back(t);
  }
  return targets;
}

// Everything but the pusher and the metrics hooks.
absl::StatusOr<TrainerOptions> OptionsFromFlags() {
  TrainerOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.push_to = PushTargetsFromFlags();
  for (const std::string& t : options.push_to) {
    if (absl::Status s = ValidatePushTarget(t); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("--push_to: ", s.message()));
    }
  }
  options.backoff.max_attempts = absl::GetFlag(FLAGS_push_attempts);
  options.backoff.initial = absl::Seconds(absl::GetFlag(FLAGS_push_backoff_seconds));
  options.default_threads = absl::GetFlag(FLAGS_threads);
  options.use_cuda_if_available = absl::GetFlag(FLAGS_cuda);
  options.snapshot_every_steps = absl::GetFlag(FLAGS_snapshot_every_steps);
  absl::StatusOr<model::Precision> precision =
      model::ParsePrecision(absl::GetFlag(FLAGS_precision));
  if (!precision.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--precision: ", precision.status().message()));
  }
  options.precision = *precision;
  LS_ASSIGN_OR_RETURN(options.formulation,
                      model::ParseFormulation(absl::GetFlag(FLAGS_formulation)));
  return options;
}

// An integer flag that -1 leaves to an environment variable (torchrun's).
absl::StatusOr<int> FlagOrEnv(int flag, const char* env, int fallback) {
  if (flag >= 0) return flag;
  const char* v = std::getenv(env);
  if (v == nullptr || *v == 0) return fallback;
  int out = 0;
  if (!absl::SimpleAtoi(v, &out) || out < 0) {
    return absl::InvalidArgumentError(absl::StrCat("$", env, "='", v, "' is not a number >= 0"));
  }
  return out;
}

// The data-parallel group from flags and torchrun's variables.
absl::StatusOr<distributed::GroupConfig> GroupFromFlags() {
  distributed::GroupConfig g;
  LS_ASSIGN_OR_RETURN(g.world_size, FlagOrEnv(absl::GetFlag(FLAGS_world_size), "WORLD_SIZE", 1));
  LS_ASSIGN_OR_RETURN(g.rank, FlagOrEnv(absl::GetFlag(FLAGS_rank), "RANK", 0));
  LS_ASSIGN_OR_RETURN(g.master_port,
                      FlagOrEnv(absl::GetFlag(FLAGS_master_port), "MASTER_PORT", 29500));
  g.master_addr = absl::GetFlag(FLAGS_master_addr);
  if (g.master_addr.empty()) {
    const char* v = std::getenv("MASTER_ADDR");
    g.master_addr = v != nullptr && *v != 0 ? v : "127.0.0.1";
  }
  if (g.world_size < 1 || g.rank >= g.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", g.rank, " with world size ",
                                                   g.world_size, ": need 0 <= rank < world size"));
  }
  if (g.master_port > 65535) return absl::InvalidArgumentError("--master_port > 65535");
  g.host = absl::GetFlag(FLAGS_dist_host);
  if (g.host.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    const bool loopback = g.master_addr == "127.0.0.1" || g.master_addr == "localhost";
    g.host = loopback ? "127.0.0.1" : host;
  }
  const double rdv = absl::GetFlag(FLAGS_rendezvous_timeout_seconds);
  const double coll = absl::GetFlag(FLAGS_collective_timeout_seconds);
  if (!(rdv > 0) || !(coll > 0 && coll <= 120)) {
    return absl::InvalidArgumentError(
        "--rendezvous_timeout_seconds must be > 0 and --collective_timeout_seconds in (0, 120]");
  }
  g.rendezvous_timeout = absl::Seconds(rdv);
  g.collective_timeout = absl::Seconds(coll);
  g.bucket_bytes = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_allreduce_bucket_mb))) << 20;
  // What must be equal on every rank for them to compute the same model.
  g.fingerprint = absl::StrCat("formulation=", absl::GetFlag(FLAGS_formulation),
                               " precision=", absl::GetFlag(FLAGS_precision),
                               " cuda=", absl::GetFlag(FLAGS_cuda) ? 1 : 0);
  return g;
}

// A rank other than 0: serves health and follows rank 0's jobs until rank
// 0 shuts the group down (exit 0) or the group refuses it / rank 0 is
// gone (exit 1, so that a supervisor restarts it).
int Follow(services::ServiceMain& m, const TrainerOptions& options,
           const distributed::GroupConfig& group) {
  rpc::ServerOptions serve;
  serve.listen = absl::GetFlag(FLAGS_listen);
  serve.health_names = {"latentsearch.v1.TrainerRank"};
  if (absl::Status s = m.Start(serve, {}); !s.ok()) return m.Fail(s);
  m.Announce(absl::StrCat("rank ", group.rank, " of ", group.world_size, ", following rank 0 at ",
                          group.master_addr, ":", group.master_port));
  std::atomic<bool> running{true};
  std::thread follower([&] {
    absl::Status s = distributed::RunFollower(group, options, [&] { return running.load(); });
    if (!s.ok()) {
      LOG(ERROR) << "latentsearch-trainer rank " << group.rank << ": " << s;
      google::FlushLogFiles(google::GLOG_INFO);
      std::fflush(nullptr);
      _exit(1);
    }
    if (running) kill(getpid(), SIGTERM);  // Rank 0 shut the group down.
  });
  const int rc = m.WaitAndDrain([&] { running = false; });
  follower.join();
  return rc;
}

// Serves until SIGTERM/SIGINT.
int Serve(services::ServiceMain& m, TrainerOptions options) {
  TrainerMetrics trainer_metrics(m.metrics());  // Before the core: its hooks refer to it.
  options.on_step = [&trainer_metrics](const std::string& model, const StepInfo& s) {
    trainer_metrics.OnStep(model, s);
  };
  options.on_epoch = [&trainer_metrics](const std::string& model, const EpochInfo& e) {
    trainer_metrics.OnEpoch(model, e);
  };
  options.on_precision = [&trainer_metrics](const std::string& model,
                                            const model::PrecisionChoice& c) {
    trainer_metrics.OnPrecision(model, c);
  };
  absl::StatusOr<std::unique_ptr<TrainerCore>> core = TrainerCore::Create(options);
  if (!core.ok()) return m.Fail(core.status());
  TrainerService service(core->get());
  rpc::ServerOptions serve;
  serve.listen = absl::GetFlag(FLAGS_listen);
  serve.health_names = {"latentsearch.v1.Trainer"};
  if (absl::Status s = m.Start(serve, {&service}); !s.ok()) return m.Fail(s);
  m.Announce(absl::StrCat("data_dir ", options.data_dir, ", pushing to ", options.push_to.size(),
                          " encoder(s), CUDA ",
                          model::CudaAvailable() ? "available" : "not available"));
  // Stop the running job at its next step first, so watch streams end.
  return m.WaitAndDrain([&core] {
    LOG(INFO) << "stopping the running job";
    (*core)->Shutdown();
  });
}

int Main(int argc, char** argv) {
  services::ServiceMain m("latentsearch-trainer");
  if (absl::Status s = m.Init(argc, argv, kUsage); !s.ok()) return m.Fail(s);
  if (!absl::GetFlag(FLAGS_describe).empty()) {
    absl::Status s = Describe();
    return s.ok() ? 0 : m.Fail(s);
  }
  model::TuneAllocatorForTraining();
  absl::StatusOr<GrpcPusherOptions> pusher = PusherOptionsFromFlags();
  if (!pusher.ok()) return m.Fail(pusher.status());
  // A file push reads no training flags: a bad --precision must not fail it.
  if (!absl::GetFlag(FLAGS_push_file).empty()) {
    absl::Status s = PushFile(PushTargetsFromFlags(), *pusher);
    return s.ok() ? 0 : m.Fail(s);
  }
  absl::StatusOr<TrainerOptions> options = OptionsFromFlags();
  if (!options.ok()) return m.Fail(options.status());
  absl::StatusOr<distributed::GroupConfig> group = GroupFromFlags();
  if (!group.ok()) return m.Fail(group.status());
  if (group->rank > 0) return Follow(m, *options, *group);
  options->pusher = std::make_shared<GrpcCheckpointPusher>(*pusher);
  if (group->world_size > 1) {
    LOG(INFO) << "rank 0 of " << group->world_size << ": waiting for the other ranks at "
              << group->master_addr << ":" << group->master_port;
    absl::StatusOr<std::unique_ptr<distributed::Coordinator>> coordinator =
        distributed::Coordinator::Create(*group);
    if (!coordinator.ok()) return m.Fail(coordinator.status());
    options->group = *std::move(coordinator);
  }
  return Serve(m, *std::move(options));
}

}  // namespace
}  // namespace latentsearch::trainer

int main(int argc, char** argv) { return latentsearch::trainer::Main(argc, argv); }

// Two real latentsearch-encoder replicas behind one round-robin target
// (ipv4:A,B) and a real latentsearch-trainer pushing to both (issue #11):
// 64 clients encode through the one target while replica B is killed
// (SIGKILL) and restarted, and not one Encode fails (the channel's retry
// policy sends the calls B dropped to A). A checkpoint trained while B was
// down reaches A by push; the restarted B pulls it from the trainer
// (--pull_from) before it listens, so both end holding the same newest
// versions. Then bad push targets and an unreachable --pull_from. No
// sleeps: every wait is on a process's log line, an RPC or a condition.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/trainer.grpc.pb.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::RunShell;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kModel[] = "replicated";
constexpr int kClients = 64;

// Two classes of 16 structured 32×32 RGB PNGs.
void WriteImages(const std::string& root) {
  std::mt19937_64 rng(5);
  for (int cls = 0; cls < 2; ++cls) {
    const std::string dir = absl::StrCat(root, "/class", cls);
    ASSERT_OK(base::MakeDirs(dir));
    for (int i = 0; i < 16; ++i) {
      image::Image img(32, 32, 3);
      for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 32; ++x) {
          for (int c = 0; c < 3; ++c) {
            const int v = cls == 0 ? x * 7 + c * 40 : y * 7 + (2 - c) * 40;
            img.at(y, x)[c] = static_cast<uint8_t>((v + i * 3 + rng() % 16) & 0xff);
          }
        }
      }
      ASSERT_OK(
          base::WriteFileAtomically(absl::StrCat(dir, "/img", i, ".png"), *image::EncodePng(img)));
    }
  }
}

std::unique_ptr<Subprocess> StartEncoder(const std::string& listen, const std::string& data_dir,
                                         const std::string& log,
                                         const std::string& pull_from = "") {
  std::vector<std::string> argv = {BinaryPath("latentsearch-encoder"), "--listen=" + listen,
                                   "--data_dir=" + data_dir, "--device=cpu", "--threads=1",
                                   "--max_batch_size=16", "--max_queue_delay_us=200",
                                   // Clients reconnect every second (GOAWAY)
                                   // throughout: that costs no call either
                                   // (the Kubernetes manifest says 300 s).
                                   "--max_connection_age_seconds=1"};
  if (!pull_from.empty()) argv.push_back("--pull_from=" + pull_from);
  auto p = Subprocess::StartServer(argv, log);
  EXPECT_OK(p.status());
  return p.ok() ? *std::move(p) : nullptr;
}

// Trains a short job; returns its push events (the watch ends once every
// push has ended).
std::vector<v1::PushEvent> Train(v1::Trainer::Stub* trainer, const std::string& images,
                                 uint64_t seed) {
  v1::StartTrainingRequest start;
  v1::TrainingConfig& config = *start.mutable_config();
  config.set_model_name(kModel);
  config.set_architecture("conv");
  config.set_latent_size(8);
  config.mutable_input_shape()->set_height(32);
  config.mutable_input_shape()->set_width(32);
  config.mutable_input_shape()->set_channels(3);
  config.mutable_dataset()->set_image_folder(images);
  config.set_epochs(1);
  config.set_batch_size(16);
  config.set_seed(seed);
  config.set_threads(1);
  config.set_checkpoint_policy(v1::CHECKPOINT_POLICY_END);
  v1::StartTrainingResponse started;
  {
    grpc::ClientContext ctx;
    grpc::Status s = trainer->StartTraining(&ctx, start, &started);
    EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
    if (!s.ok()) return {};
  }
  std::vector<v1::PushEvent> pushes;
  grpc::ClientContext ctx;
  v1::WatchTrainingRequest watch;
  watch.set_job_id(started.job_id());
  auto reader = trainer->WatchTraining(&ctx, watch);
  v1::TrainingEvent e;
  while (reader->Read(&e)) {
    if (e.has_push()) pushes.push_back(e.push());
    if (e.has_state() && e.state().state() == v1::JOB_STATE_FAILED) {
      ADD_FAILURE() << "training failed: " << e.state().message();
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  return pushes;
}

// The final push event per replica address.
std::map<std::string, v1::PushEvent> FinalPushes(const std::vector<v1::PushEvent>& pushes) {
  std::map<std::string, v1::PushEvent> out;
  for (const v1::PushEvent& p : pushes) {
    if (p.final()) out[p.target()] = p;
  }
  return out;
}

std::vector<uint64_t> Versions(const std::string& address) {
  auto stub = v1::Encoder::NewStub(rpc::CreateChannel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ListModelsRequest request;
  request.set_name(kModel);
  v1::ListModelsResponse list;
  grpc::Status s = stub->ListModels(&ctx, request, &list);
  EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  std::vector<uint64_t> out;
  for (const auto& m : list.models()) out.push_back(m.metadata().model().version());
  return out;
}

// kClients threads encoding one raw image per call through `target` until
// Stop(); counts outcomes and which replica (peer) answered.
class EncodeLoad {
 public:
  EncodeLoad(const std::string& target, std::string restarted)
      : channel_(rpc::CreateChannel(target)), restarted_(std::move(restarted)) {
    request_.mutable_model()->set_name(kModel);
    v1::RawImage* raw = request_.add_images()->mutable_raw();
    raw->set_height(32);
    raw->set_width(32);
    raw->set_channels(3);
    std::string pixels(32 * 32 * 3, '\0');
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>(i * 13 % 251);
    raw->set_pixels(pixels);
    for (int i = 0; i < kClients; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~EncodeLoad() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }
  // From now on, count the calls the `restarted` replica answers.
  void MarkRestarted() {
    absl::MutexLock lock(&mu_);
    counting_restarted_ = true;
  }
  // Blocks until the restarted replica answered `n` calls (false after
  // `timeout`: a bound for a broken build, not a synchronisation).
  bool WaitForRestartedCalls(int n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return after_restart_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  // Blocks until each replica answered `n` calls.
  void WaitForBoth(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      if (by_peer_.size() < 2) return false;
      for (const auto& [peer, calls] : by_peer_) {
        if (calls < n) return false;
      }
      return true;
    };
    mu_.Await(absl::Condition(&enough));
  }
  int ok() {
    absl::MutexLock lock(&mu_);
    return ok_;
  }
  std::vector<std::string> failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }
  std::map<std::string, int> by_peer() {
    absl::MutexLock lock(&mu_);
    return by_peer_;
  }

 private:
  void Run() {
    auto stub = v1::Encoder::NewStub(channel_);
    while (!stop_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      v1::EncodeResponse response;
      grpc::Status s = stub->Encode(&ctx, request_, &response);
      const std::string peer = ctx.peer();
      absl::MutexLock lock(&mu_);
      if (!s.ok()) {
        failures_.push_back(rpc::FormatGrpcStatus(s));
        continue;
      }
      ++ok_;
      ++by_peer_[peer];
      if (counting_restarted_ && absl::StrContains(peer, restarted_)) ++after_restart_;
    }
  }

  const std::shared_ptr<grpc::Channel> channel_;
  const std::string restarted_;
  v1::EncodeRequest request_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  int ok_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> by_peer_ ABSL_GUARDED_BY(mu_);
  bool counting_restarted_ ABSL_GUARDED_BY(mu_) = false;
  int after_restart_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(EncoderReplicasTest, KillingAReplicaUnderLoadFailsNoEncodeAndItCatchesUpOnRestart) {
  TempDir dir;
  const std::string images = dir.Join("images");
  WriteImages(images);
  if (::testing::Test::HasFatalFailure()) return;
  std::unique_ptr<Subprocess> a = StartEncoder("127.0.0.1:0", dir.Join("a"), dir.Join("a.log"));
  std::unique_ptr<Subprocess> b = StartEncoder("127.0.0.1:0", dir.Join("b"), dir.Join("b.log"));
  ASSERT_TRUE(a != nullptr && b != nullptr);
  const std::string b_address = b->address();
  auto trainer = Subprocess::StartServer(
      {BinaryPath("latentsearch-trainer"), "--listen=127.0.0.1:0",
       "--data_dir=" + dir.Join("trainer"), "--push_to=" + a->address() + "," + b_address,
       "--push_attempts=2", "--push_backoff_seconds=0.05", "--threads=1", "--cuda=false"},
      dir.Join("trainer.log"));
  ASSERT_OK(trainer.status());
  auto tstub = v1::Trainer::NewStub(rpc::CreateChannel((*trainer)->address()));

  // v1 reaches both replicas by push.
  std::map<std::string, v1::PushEvent> first = FinalPushes(Train(tstub.get(), images, 1));
  ASSERT_EQ(first.size(), 2u);
  for (const auto& [target, p] : first) EXPECT_TRUE(p.ok()) << target << ": " << p.message();

  EncodeLoad load(absl::StrCat("ipv4:", a->address(), ",", b_address), b_address);
  load.WaitForBoth(50);  // Both replicas serve through the one target.

  const int killed = b->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(killed) && WTERMSIG(killed) == SIGKILL) << killed;
  b.reset();
  const int ok_at_kill = load.ok();

  // v2, trained while B is down: A takes it, B's push fails (reported).
  std::map<std::string, v1::PushEvent> second = FinalPushes(Train(tstub.get(), images, 2));
  ASSERT_EQ(second.size(), 2u);
  EXPECT_TRUE(second[a->address()].ok()) << second[a->address()].message();
  EXPECT_FALSE(second[b_address].ok());
  EXPECT_EQ(second[b_address].error_code(), "UNAVAILABLE");
  EXPECT_THAT(Versions(a->address()), ElementsAre(2, 1));

  // B comes back on its address and pulls v2 before it listens.
  b = StartEncoder(b_address, dir.Join("b"), dir.Join("b2.log"), (*trainer)->address());
  ASSERT_NE(b, nullptr);
  EXPECT_THAT(Versions(b_address), ElementsAre(2, 1)) << "the restarted replica caught up";
  load.MarkRestarted();
  // gRPC reconnects to B after its reconnect backoff (1 s, growing 1.6×
  // per failed attempt while B was down).
  EXPECT_TRUE(load.WaitForRestartedCalls(200, absl::Seconds(120)))
      << "the restarted replica never served through the round-robin target";
  load.Stop();

  std::printf("Encode calls: %d ok, %zu failed (%d before the kill); by replica:", load.ok(),
              load.failures().size(), ok_at_kill);
  for (const auto& [peer, calls] : load.by_peer()) std::printf(" %s=%d", peer.c_str(), calls);
  std::printf("\n");
  EXPECT_EQ(load.failures().size(), 0u)
      << "first failure: " << (load.failures().empty() ? "" : load.failures()[0]);
  EXPECT_GT(load.ok(), ok_at_kill);
  EXPECT_EQ(Versions(a->address()), Versions(b_address));
}

// Bad inputs: push targets that cannot be right fail the trainer at start;
// a name that does not resolve fails a file push naming it; an encoder
// whose --pull_from cannot be reached still starts and serves (NOT_SERVING
// until a model arrives), saying why.
TEST(EncoderReplicasTest, BadPushAndPullTargets) {
  TempDir dir;
  const std::string trainer = BinaryPath("latentsearch-trainer");
  std::string out;
  EXPECT_EQ(RunShell(trainer + " --listen=127.0.0.1:0 --data_dir=" + dir.Join("t") +
                         " --push_to=dns:///encoder",
                     &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("--push_to: push target 'dns:///encoder': a dns: target needs "
                             "NAME:PORT"));
  EXPECT_EQ(RunShell(trainer + " --push_file=" + dir.Join("x.ckpt") +
                         " --push_to=dns:///no-such-encoder.invalid:50052",
                     &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("'no-such-encoder.invalid' does not resolve"));

  std::unique_ptr<Subprocess> e =
      StartEncoder("127.0.0.1:0", dir.Join("e"), dir.Join("e.log"), "127.0.0.1:1");
  ASSERT_NE(e, nullptr);
  EXPECT_THAT(Versions(e->address()), ::testing::IsEmpty());
  std::string log;
  ASSERT_OK_AND_ASSIGN(log, base::ReadFile(dir.Join("e.log")));
  EXPECT_THAT(log, HasSubstr("pull at start: UNAVAILABLE"));
  EXPECT_EQ(RunShell(BinaryPath("latentsearch-encoder") + " --listen=127.0.0.1:0 --data_dir=" +
                         dir.Join("f") + " --pull_from=127.0.0.1:1 --pull_timeout_seconds=0",
                     &out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("--pull_timeout_seconds must be > 0"));
}

}  // namespace
}  // namespace latentsearch::encoder

// Faults against the real latentsearch-encoder and latentsearch-trainer
// binaries (with latentsearch-search for image queries):
//   - SIGKILL of the encoder while it receives a push and while it stores
//     one: after a restart every acknowledged version is served, nothing
//     half-written is;
//   - SIGKILL of the trainer while it stores a checkpoint: every checkpoint
//     it announced is listed and downloads intact, no temp file survives;
//   - the encoder down: search-by-image answers UNAVAILABLE and recovers
//     when the encoder is back;
//   - a trainer push to an encoder that dies in the middle of the stream
//     (held there by a proxy) and restarts: retried, completes;
//   - oversized messages and pushes: RESOURCE_EXHAUSTED; stalled and
//     cancelled download streams: no threads or files left behind.
// Kill points are found with inotify (the temp file of an atomic write
// appearing) or the proxy, never by sleeping. Unix sockets and loopback.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "common/model/model.h"
#include "common/rpc/channel.h"
#include "common/rpc/status_util.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "latentsearch/v1/search.grpc.pb.h"
#include "latentsearch/v1/trainer.grpc.pb.h"
#include "tests/integration/fault/fault_util.h"

namespace latentsearch::fault {
namespace {

using ::latentsearch::testing::BinaryPath;
using ::latentsearch::testing::Subprocess;
using ::latentsearch::testing::TempDir;

constexpr char kModel[] = "fault";
// conv on 32×32×3 with this latent size has ~17 M parameters: a 67 MB
// checkpoint, so writing and pushing one takes long enough to be hit.
constexpr int kBigLatent = 4096;

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

model::Checkpoint MakeModelCheckpoint(int latent, uint64_t seed) {
  model::ModelSpec spec{"conv", latent, {32, 32, 3}};
  model::ModelOptions options;
  options.seed = seed;
  auto m = model::Model::Create(spec, options);
  EXPECT_TRUE(m.ok()) << m.status();
  model::CheckpointMetadata md;
  md.model_name = kModel;
  md.architecture = "conv";
  md.latent_size = latent;
  md.input_shape = spec.input;
  auto weights = (*m)->SerializeWeights();
  EXPECT_TRUE(weights.ok()) << weights.status();
  return model::MakeCheckpoint(md, *std::move(weights));
}

std::unique_ptr<Subprocess> StartEncoder(const std::string &listen, const std::string &data_dir,
                                         const std::string &log,
                                         std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {BinaryPath("latentsearch-encoder"),
                                   "--listen=" + listen,
                                   "--data_dir=" + data_dir,
                                   "--device=cpu",
                                   "--threads=1",
                                   "--load_nice=0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = Subprocess::StartServer(argv, log, absl::Seconds(120));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

// Opens a push stream and writes the metadata and the first `chunks` 1 MiB
// chunks (all when -1).
struct PushStream {
  std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
  v1::PushCheckpointResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::CheckpointChunk>> writer;
};
std::unique_ptr<PushStream> BeginPush(v1::Encoder::Stub *stub, const model::Checkpoint &c,
                                      uint64_t version, int chunks) {
  auto p = std::make_unique<PushStream>();
  p->ctx->set_deadline(In(300));
  p->writer = stub->PushCheckpoint(p->ctx.get(), &p->response);
  v1::CheckpointChunk chunk;
  model::CheckpointMetadata md = c.metadata;
  md.version = version;
  *chunk.mutable_metadata() = model::CheckpointMetadataToProto(md);
  if (!p->writer->Write(chunk)) return p;
  constexpr size_t kChunk = 1 << 20;
  int sent = 0;
  for (size_t off = 0; off < c.weights.size() && (chunks < 0 || sent < chunks);
       off += kChunk, ++sent) {
    v1::CheckpointChunk data;
    data.set_data(c.weights.substr(off, kChunk));
    if (!p->writer->Write(data)) break;
  }
  return p;
}

grpc::Status Push(v1::Encoder::Stub *stub, const model::Checkpoint &c, uint64_t version) {
  std::unique_ptr<PushStream> p = BeginPush(stub, c, version, -1);
  p->writer->WritesDone();
  return p->writer->Finish();
}

v1::Image TestImage() {
  v1::Image img;
  v1::RawImage *raw = img.mutable_raw();
  raw->set_height(32);
  raw->set_width(32);
  raw->set_channels(3);
  std::string pixels(32 * 32 * 3, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>((i * 7) & 0xff);
  raw->set_pixels(pixels);
  return img;
}

grpc::Status Encode(v1::Encoder::Stub *stub, uint64_t version, v1::EncodeResponse *r) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(120));
  v1::EncodeRequest req;
  req.mutable_model()->set_name(kModel);
  req.mutable_model()->set_version(version);
  *req.add_images() = TestImage();
  return stub->Encode(&ctx, req, r);
}

// version -> sha256 of what the encoder lists.
std::map<uint64_t, std::string> Held(v1::Encoder::Stub *stub) {
  grpc::ClientContext ctx;
  v1::ListModelsResponse list;
  grpc::Status s = stub->ListModels(&ctx, v1::ListModelsRequest(), &list);
  EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  std::map<uint64_t, std::string> held;
  for (const v1::ModelInfo &m : list.models()) {
    held[m.metadata().model().version()] = m.metadata().sha256();
  }
  return held;
}

class EncoderFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.Join("encoder.sock");
    encoder_ = StartEncoder("unix:" + socket_, dir_.Join("encoder"), dir_.Join("encoder.log"));
    ASSERT_NE(encoder_, nullptr);
    stub_ = v1::Encoder::NewStub(rpc::CreateChannel("unix:" + socket_));
    v1_ = MakeModelCheckpoint(8, 1);
    grpc::Status s = Push(stub_.get(), v1_, 1);
    ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);  // Acknowledged.
    ASSERT_TRUE(Encode(stub_.get(), 1, &e1_).ok());
  }

  void Restart(const std::string &log) {
    encoder_ = StartEncoder("unix:" + socket_, dir_.Join("encoder"), dir_.Join(log));
    ASSERT_NE(encoder_, nullptr);
    stub_ = v1::Encoder::NewStub(rpc::CreateChannel("unix:" + socket_));
  }

  // Version 1 is served exactly as before the kill.
  void ExpectV1Served() {
    v1::EncodeResponse r;
    grpc::Status s = Encode(stub_.get(), 1, &r);
    ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
    ASSERT_EQ(r.embeddings_size(), 1);
    EXPECT_THAT(r.embeddings(0).values(), ::testing::ElementsAreArray(e1_.embeddings(0).values()));
  }

  std::string ModelDir() const { return dir_.Join(std::string("encoder/models/") + kModel); }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Subprocess> encoder_;
  std::unique_ptr<v1::Encoder::Stub> stub_;
  model::Checkpoint v1_;
  v1::EncodeResponse e1_;
};

TEST_F(EncoderFaultTest, SigkillWhileReceivingAPushServesThePreviousVersion) {
  const model::Checkpoint v2 = MakeModelCheckpoint(kBigLatent, 2);
  std::unique_ptr<PushStream> push = BeginPush(stub_.get(), v2, 2, 8);  // 8 of 67 MiB.
  const int status = encoder_->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  push->writer->WritesDone();
  EXPECT_FALSE(push->writer->Finish().ok());
  Restart("encoder2.log");
  if (HasFatalFailure()) return;
  const std::map<uint64_t, std::string> held = Held(stub_.get());
  EXPECT_EQ(held, (std::map<uint64_t, std::string>{{1, v1_.metadata.sha256}}));
  ExpectV1Served();
  EXPECT_THAT(FilesContaining(ModelDir(), ".tmp."), ::testing::IsEmpty());
  EXPECT_EQ(encoder_->Stop(SIGTERM), 0);
}

TEST_F(EncoderFaultTest, SigkillWhileStoringAPushServesOnlyCompleteVersions) {
  const model::Checkpoint v2 = MakeModelCheckpoint(kBigLatent, 2);
  FileWatch watch(ModelDir(), ".tmp.");
  grpc::Status pushed;
  std::thread pusher([&] { pushed = Push(stub_.get(), v2, 2); });
  std::string name;
  ASSERT_TRUE(watch.Wait(absl::Seconds(300), &name)) << "the encoder never stored v2";
  const int status = encoder_->Stop(SIGKILL);
  pusher.join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(pushed.ok()) << "acknowledged before the kill";
  EXPECT_FALSE(FilesContaining(ModelDir(), ".tmp.").empty())
      << "the kill missed the write of " << name;

  Restart("encoder2.log");
  if (HasFatalFailure()) return;
  const std::map<uint64_t, std::string> held = Held(stub_.get());
  ASSERT_EQ(held.count(1), 1u);  // Acknowledged: kept.
  EXPECT_EQ(held.at(1), v1_.metadata.sha256);
  if (held.count(2)) {
    // Only the complete checkpoint may be served.
    EXPECT_EQ(held.at(2), v2.metadata.sha256);
    v1::EncodeResponse r;
    EXPECT_TRUE(Encode(stub_.get(), 2, &r).ok());
  }
  ExpectV1Served();
  EXPECT_THAT(FilesContaining(ModelDir(), ".tmp."), ::testing::IsEmpty());
  EXPECT_EQ(encoder_->Stop(SIGTERM), 0);
}

TEST_F(EncoderFaultTest, SearchByImageIsUnavailableWhileTheEncoderIsDown) {
  auto search = Subprocess::StartServer(
      {BinaryPath("latentsearch-search"), "--listen=127.0.0.1:0",
       "--data_dir=" + dir_.Join("search"), "--threads=1", "--encoder=unix:" + socket_},
      dir_.Join("search.log"));
  ASSERT_TRUE(search.ok()) << search.status();
  auto sstub = v1::Search::NewStub(rpc::CreateChannel((*search)->address()));
  {
    grpc::ClientContext ctx;
    v1::CreateCollectionRequest req;
    req.set_name("images");
    req.set_dim(8);
    req.mutable_model()->set_name(kModel);
    req.mutable_model()->set_version(1);
    v1::CollectionInfo info;
    ASSERT_TRUE(sstub->CreateCollection(&ctx, req, &info).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::UpsertResponse resp;
    auto stream = sstub->Upsert(&ctx, &resp);
    v1::UpsertRequest req;
    req.set_collection("images");
    v1::Item *item = req.add_items();
    item->set_id("the-image");
    *item->mutable_vector() = e1_.embeddings(0).values();
    stream->Write(req);
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  auto search_by_image = [&](v1::SearchResponse *resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(60));
    v1::SearchRequest req;
    req.set_collection("images");
    *req.mutable_image() = TestImage();
    req.set_k(1);
    return sstub->Search(&ctx, req, resp);
  };
  v1::SearchResponse resp;
  grpc::Status s = search_by_image(&resp);
  ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  ASSERT_EQ(resp.neighbors_size(), 1);
  EXPECT_EQ(resp.neighbors(0).id(), "the-image");

  const int status = encoder_->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (int i = 0; i < 3; ++i) {
    s = search_by_image(&resp);
    EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE) << rpc::FormatGrpcStatus(s);
  }
  // Vector queries do not need the encoder.
  {
    grpc::ClientContext ctx;
    v1::SearchRequest req;
    req.set_collection("images");
    req.set_item_id("the-image");
    v1::SearchResponse r;
    EXPECT_TRUE(sstub->Search(&ctx, req, &r).ok());
  }
  Restart("encoder2.log");
  if (HasFatalFailure()) return;
  grpc::Status last;
  EXPECT_TRUE(PollUntil(
      [&] {
        last = search_by_image(&resp);
        return last.ok();
      },
      absl::Seconds(120)))
      << rpc::FormatGrpcStatus(last);
  ASSERT_EQ(resp.neighbors_size(), 1);
  EXPECT_EQ(resp.neighbors(0).id(), "the-image");
  EXPECT_EQ(resp.neighbors(0).distance(), 0.0f);
  EXPECT_EQ((*search)->Stop(SIGTERM), 0);
  EXPECT_EQ(encoder_->Stop(SIGTERM), 0);
}

TEST_F(EncoderFaultTest, OversizedMessagesAndPushesAreResourceExhausted) {
  encoder_->Stop(SIGTERM);
  encoder_ = StartEncoder("unix:" + socket_, dir_.Join("encoder"), dir_.Join("small.log"),
                          {"--max_message_bytes=1048576", "--max_checkpoint_bytes=2000000"});
  ASSERT_NE(encoder_, nullptr);
  rpc::ChannelOptions big;
  big.max_send_message_bytes = 64 << 20;
  stub_ = v1::Encoder::NewStub(rpc::CreateChannel("unix:" + socket_, big));
  {
    grpc::ClientContext ctx;
    v1::EncodeRequest req;
    req.mutable_model()->set_name(kModel);
    v1::RawImage *raw = req.add_images()->mutable_raw();
    raw->set_height(1024);
    raw->set_width(1024);
    raw->set_channels(3);
    raw->set_pixels(std::string(1024 * 1024 * 3, '\x10'));  // 3 MiB > 1 MiB.
    v1::EncodeResponse r;
    grpc::Status s = stub_->Encode(&ctx, req, &r);
    EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED) << rpc::FormatGrpcStatus(s);
  }
  {
    // 67 MB of weights announced; 2 MB allowed: refused at the metadata.
    const model::Checkpoint big_ckpt = MakeModelCheckpoint(kBigLatent, 3);
    std::unique_ptr<PushStream> p = BeginPush(stub_.get(), big_ckpt, 2, 0);
    p->writer->WritesDone();
    grpc::Status s = p->writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED) << rpc::FormatGrpcStatus(s);
  }
  ExpectV1Served();
  EXPECT_EQ(encoder_->Stop(SIGTERM), 0);
}

// ---------------------------------------------------------------------------
// With the trainer.

void WriteImages(const std::string &root) {
  std::mt19937_64 rng(5);
  const std::string dir = root + "/all";
  ASSERT_TRUE(base::MakeDirs(dir).ok());
  for (int i = 0; i < 16; ++i) {
    image::Image img(32, 32, 3);
    for (auto &p : img.pixels) p = static_cast<uint8_t>(rng() & 0xff);
    ASSERT_TRUE(
        base::WriteFileAtomically(absl::StrCat(dir, "/img", i, ".png"), *image::EncodePng(img))
            .ok());
  }
}

v1::TrainingConfig BigConfig(const std::string &images, int epochs, v1::CheckpointPolicy policy) {
  v1::TrainingConfig c;
  c.set_model_name(kModel);
  c.set_architecture("conv");
  c.set_latent_size(kBigLatent);
  c.mutable_input_shape()->set_height(32);
  c.mutable_input_shape()->set_width(32);
  c.mutable_input_shape()->set_channels(3);
  c.mutable_dataset()->set_image_folder(images);
  c.set_validation_fraction(0);
  c.set_epochs(epochs);
  c.set_batch_size(16);
  c.set_threads(1);
  c.set_checkpoint_policy(policy);
  return c;
}

std::unique_ptr<Subprocess> StartTrainer(const TempDir &dir, const std::string &log,
                                         std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {BinaryPath("latentsearch-trainer"), "--listen=127.0.0.1:0",
                                   "--data_dir=" + dir.Join("trainer"), "--threads=1",
                                   "--cuda=false"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = Subprocess::StartServer(argv, dir.Join(log), absl::Seconds(120));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

std::string StartJob(v1::Trainer::Stub *stub, const v1::TrainingConfig &config) {
  grpc::ClientContext ctx;
  v1::StartTrainingRequest req;
  *req.mutable_config() = config;
  v1::StartTrainingResponse resp;
  grpc::Status s = stub->StartTraining(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  return resp.job_id();
}

// Downloads a checkpoint; its chunks must hash to the metadata's sha256.
grpc::Status Download(v1::Trainer::Stub *stub, uint64_t version, std::string *sha) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(120));
  v1::DownloadCheckpointRequest req;
  req.mutable_model()->set_name(kModel);
  req.mutable_model()->set_version(version);
  auto reader = stub->DownloadCheckpoint(&ctx, req);
  v1::CheckpointChunk chunk;
  std::string weights, want;
  while (reader->Read(&chunk)) {
    if (chunk.has_metadata()) want = chunk.metadata().sha256();
    if (chunk.has_data()) weights += chunk.data();
  }
  grpc::Status s = reader->Finish();
  *sha = model::Sha256Hex(weights);
  EXPECT_EQ(*sha, want) << "version " << version;
  return s;
}

TEST(TrainerFaultTest, SigkillWhileStoringACheckpointLosesNothingAnnounced) {
  TempDir dir;
  WriteImages(dir.Join("images"));
  if (::testing::Test::HasFatalFailure()) return;
  const std::string store = dir.Join(std::string("trainer/checkpoints/") + kModel);
  ASSERT_TRUE(base::MakeDirs(store).ok());
  std::unique_ptr<Subprocess> trainer = StartTrainer(dir, "trainer.log");
  ASSERT_NE(trainer, nullptr);
  auto stub = v1::Trainer::NewStub(rpc::CreateChannel(trainer->address()));
  const std::string job =
      StartJob(stub.get(), BigConfig(dir.Join("images"), 1000, v1::CHECKPOINT_POLICY_EVERY_EPOCH));
  ASSERT_FALSE(job.empty());

  // Announced checkpoints (the job's events), read as they come.
  std::mutex mu;
  std::map<uint64_t, std::string> announced;
  std::atomic<int> count{0};
  grpc::ClientContext wctx;
  std::thread watcher([&] {
    v1::WatchTrainingRequest req;
    req.set_job_id(job);
    auto reader = stub->WatchTraining(&wctx, req);
    v1::TrainingEvent e;
    while (reader->Read(&e)) {
      if (!e.has_checkpoint()) continue;
      std::lock_guard<std::mutex> l(mu);
      announced[e.checkpoint().metadata().model().version()] = e.checkpoint().metadata().sha256();
      ++count;
    }
    reader->Finish();
  });
  ASSERT_TRUE(PollUntil([&] { return count.load() >= 2; }, absl::Seconds(600)));
  FileWatch watch(store, ".ckpt.tmp.");
  std::string name;
  ASSERT_TRUE(watch.Wait(absl::Seconds(300), &name));
  const int status = trainer->Stop(SIGKILL);
  watcher.join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(FilesContaining(store, ".ckpt.tmp.").empty()) << "the kill missed " << name;
  std::printf("killed while writing %s after %zu announced checkpoints\n", name.c_str(),
              announced.size());

  trainer = StartTrainer(dir, "trainer2.log");
  ASSERT_NE(trainer, nullptr);
  stub = v1::Trainer::NewStub(rpc::CreateChannel(trainer->address()));
  EXPECT_THAT(FilesContaining(store, ".tmp."), ::testing::IsEmpty());
  grpc::ClientContext lctx;
  v1::ListCheckpointsRequest lreq;
  lreq.set_model_name(kModel);
  v1::ListCheckpointsResponse list;
  ASSERT_TRUE(stub->ListCheckpoints(&lctx, lreq, &list).ok());
  std::map<uint64_t, std::string> listed;
  for (const v1::CheckpointMetadata &m : list.checkpoints()) {
    listed[m.model().version()] = m.sha256();
  }
  for (const auto &[version, sha] : announced) {
    ASSERT_EQ(listed.count(version), 1u) << "announced version " << version << " is gone";
    EXPECT_EQ(listed.at(version), sha);
  }
  // Everything listed downloads intact (a half-written one would not).
  for (const auto &[version, sha] : listed) {
    std::string got;
    grpc::Status s = Download(stub.get(), version, &got);
    EXPECT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
    EXPECT_EQ(got, sha);
  }
  EXPECT_EQ(trainer->Stop(SIGTERM), 0);
}

TEST(TrainerFaultTest, PushToAnEncoderThatDiesMidStreamIsRetriedAndCompletes) {
  TempDir dir;
  WriteImages(dir.Join("images"));
  if (::testing::Test::HasFatalFailure()) return;
  const std::string esock = dir.Join("encoder.sock");
  std::unique_ptr<Subprocess> encoder =
      StartEncoder("unix:" + esock, dir.Join("encoder"), dir.Join("encoder.log"));
  ASSERT_NE(encoder, nullptr);
  UnixProxy proxy(dir.Join("proxy.sock"), esock);
  ASSERT_TRUE(proxy.Start().ok());
  proxy.HoldAfter(8 << 20);  // The first push stops 8 MiB into its 67 MB.
  std::unique_ptr<Subprocess> trainer =
      StartTrainer(dir, "trainer.log",
                   {"--push_to=unix:" + dir.Join("proxy.sock"), "--push_attempts=6",
                    "--push_backoff_seconds=0.2"});
  ASSERT_NE(trainer, nullptr);
  auto stub = v1::Trainer::NewStub(rpc::CreateChannel(trainer->address()));
  const std::string job =
      StartJob(stub.get(), BigConfig(dir.Join("images"), 1, v1::CHECKPOINT_POLICY_END));
  ASSERT_FALSE(job.empty());

  ASSERT_TRUE(proxy.WaitHeld(absl::Seconds(600))) << "no push reached the proxy";
  const int status = encoder->Stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  encoder = StartEncoder("unix:" + esock, dir.Join("encoder"), dir.Join("encoder2.log"));
  ASSERT_NE(encoder, nullptr);
  proxy.DropHeld();

  std::vector<v1::PushEvent> pushes;
  std::string sha;
  uint64_t version = 0;
  {
    grpc::ClientContext ctx;
    v1::WatchTrainingRequest req;
    req.set_job_id(job);
    auto reader = stub->WatchTraining(&ctx, req);
    v1::TrainingEvent e;
    while (reader->Read(&e)) {
      if (e.has_push()) pushes.push_back(e.push());
      if (e.has_checkpoint()) {
        sha = e.checkpoint().metadata().sha256();
        version = e.checkpoint().metadata().model().version();
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
  }
  ASSERT_GE(pushes.size(), 2u);
  EXPECT_FALSE(pushes.front().ok()) << "the first attempt should have died with the encoder";
  std::printf("first attempt: %s %s\n", pushes.front().error_code().c_str(),
              pushes.front().message().c_str());
  EXPECT_TRUE(pushes.back().ok()) << pushes.back().error_code() << ": " << pushes.back().message();
  EXPECT_TRUE(pushes.back().final());
  EXPECT_GE(proxy.connections(), 2);
  auto estub = v1::Encoder::NewStub(rpc::CreateChannel("unix:" + esock));
  const std::map<uint64_t, std::string> held = Held(estub.get());
  ASSERT_EQ(held.count(version), 1u);
  EXPECT_EQ(held.at(version), sha);
  v1::EncodeResponse r;
  EXPECT_TRUE(Encode(estub.get(), version, &r).ok());
  EXPECT_EQ(trainer->Stop(SIGTERM), 0);
  EXPECT_EQ(encoder->Stop(SIGTERM), 0);
}

TEST(TrainerFaultTest, StalledAndCancelledDownloadsLeaveNoThreadsOrFilesBehind) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, model::CheckpointStore::Open(dir.Join("trainer/checkpoints")));
    ASSERT_OK(store->Add(MakeModelCheckpoint(kBigLatent, 4)).status());
  }
  std::unique_ptr<Subprocess> trainer = StartTrainer(dir, "trainer.log");
  ASSERT_NE(trainer, nullptr);
  auto stub = v1::Trainer::NewStub(rpc::CreateChannel(trainer->address()));
  std::string sha;
  ASSERT_TRUE(Download(stub.get(), 1, &sha).ok());
  const int fds = CountFds(trainer->pid());
  // Files must come back to the count before any round; threads outside
  // gRPC's self-sizing pools (CountOwnThreads) to the peak of the two
  // warm-up rounds. A leak adds some with every round.
  int threads = -1;
  for (int round = 0; round < 4; ++round) {
    std::vector<std::thread> clients;
    for (int c = 0; c < 6; ++c) {
      clients.emplace_back([&, c] {
        auto own = v1::Trainer::NewStub(rpc::CreateChannel(trainer->address()));
        grpc::ClientContext ctx;
        // Half give up after the first message; half stall until their
        // deadline (which may pass before the server's first message: it
        // reads and verifies the 67 MB checkpoint first).
        const bool cancels = c % 2 == 0;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(cancels ? 120 : 3));
        v1::DownloadCheckpointRequest req;
        req.mutable_model()->set_name(kModel);
        auto reader = own->DownloadCheckpoint(&ctx, req);
        v1::CheckpointChunk chunk;
        // Reads one message, then stops reading: the server's writes back up.
        const bool got = reader->Read(&chunk);
        if (cancels) {
          EXPECT_TRUE(got);
          ctx.TryCancel();
        }
        grpc::Status s = reader->Finish();
        EXPECT_TRUE(s.error_code() == grpc::CANCELLED || s.error_code() == grpc::DEADLINE_EXCEEDED)
            << rpc::FormatGrpcStatus(s);
      });
    }
    for (std::thread &t : clients) t.join();
    std::printf("after round %d: %d threads (%s)\n", round, CountThreads(trainer->pid()),
                ThreadNames(trainer->pid()).c_str());
    if (round <= 1) threads = std::max(threads, CountOwnThreads(trainer->pid()));
  }
  // Still serving whole downloads, and back to the threads and files of
  // before.
  std::string again;
  EXPECT_TRUE(Download(stub.get(), 1, &again).ok());
  EXPECT_EQ(again, sha);
  int now_fds = -1, now_threads = -1;
  EXPECT_TRUE(PollUntil(
      [&] {
        now_fds = CountFds(trainer->pid());
        now_threads = CountOwnThreads(trainer->pid());
        return now_fds <= fds && now_threads <= threads;
      },
      absl::Seconds(60)))
      << "fds " << fds << " -> " << now_fds << ", threads " << threads << " -> " << now_threads
      << " (" << ThreadNames(trainer->pid()) << ")";
  std::printf("trainer fds %d -> %d, threads %d -> %d\n", fds, now_fds, threads, now_threads);
  // A clean exit (in the sanitizer build LeakSanitizer runs here).
  EXPECT_EQ(trainer->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace latentsearch::fault

// The model registry and its servables with a fake runner (no LibTorch):
// receiving, verifying, loading, warming up, storing, publishing, evicting
// and restoring checkpoints; refusals that leave the current model serving;
// and a servable's batch function (gather, encode, scatter, decode).
#include "services/encoder/model_registry.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/base/file.h"
#include "common/base/log_capture.h"
#include "common/model/checkpoint_proto.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/encoder/clock.h"
#include "tests/unit/encoder/fake_runner.h"
#include "tests/unit/encoder/sync.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::base::LogCapture;
using ::latentsearch::testing::IsOk;
using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeCheckpoint;
using testing::FakeLatent;
using testing::FakeRunnerFactory;
using ::testing::HasSubstr;
using testing::RunnerLog;

std::vector<uint64_t> Versions(const RegistrySnapshot& snap, const std::string& name) {
  std::vector<uint64_t> v;
  auto it = snap.models.find(name);
  if (it == snap.models.end()) return v;
  for (const auto& s : it->second) v.push_back(s->version());
  return v;
}

class ModelRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BatchSchedulerOptions so;
    so.num_threads = 0;
    so.max_batch_size = 4;
    so.max_queue_delay = absl::ZeroDuration();
    so.clock = &clock_;
    scheduler_ = *BatchScheduler::Create(so);
    log_ = std::make_shared<RunnerLog>();
  }
  void TearDown() override {
    registry_.reset();
    scheduler_.reset();
  }

  ModelRegistryOptions Options() {
    ModelRegistryOptions o;
    o.data_dir = dir_.path();
    o.keep_versions = 2;
    o.factory = FakeRunnerFactory(log_);
    o.scheduler = scheduler_.get();
    o.warmup_batch_sizes = {1, 2, 3, 4};
    return o;
  }
  void Open() {
    registry_.reset();
    ASSERT_OK_AND_ASSIGN(registry_, ModelRegistry::Create(Options()));
  }
  absl::StatusOr<PushResult> Push(uint64_t version, const std::string& weights,
                                  const std::string& name = "default") {
    return registry_->Push(FakeCheckpoint(name, version, weights));
  }
  std::string PathOf(const std::string& name, uint64_t v) {
    return dir_.Join("models/" + name + "/v" + std::string(6 - std::to_string(v).size(), '0') +
                     std::to_string(v) + ".ckpt");
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::shared_ptr<RunnerLog> log_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(ModelRegistryTest, EmptyRegistryIsUnavailableAndNotReady) {
  Open();
  EXPECT_THAT(registry_->Resolve("", 0),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no model is loaded")));
  std::vector<bool> readiness;
  registry_->SetReadinessListener([&](bool ready) { readiness.push_back(ready); });
  ASSERT_OK(Push(1, "A-weights"));
  EXPECT_THAT(readiness, ElementsAre(false, true));
}

TEST_F(ModelRegistryTest, PushWarmsUpStoresAndPublishes) {
  Open();
  ASSERT_OK_AND_ASSIGN(PushResult r, Push(1, "A-weights"));
  EXPECT_FALSE(r.already_present);
  EXPECT_EQ(r.metadata.version, 1u);
  EXPECT_GE(r.load_seconds, 0.0);
  EXPECT_THAT(log_->EncodeSizes(), ElementsAre(1, 2, 3, 4)) << "one warm-up pass per size";
  EXPECT_TRUE(std::filesystem::exists(PathOf("default", 1)));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> s, registry_->Resolve("", 0));
  EXPECT_EQ(s->version(), 1u);
  EXPECT_EQ(s->name(), "default");
  EXPECT_EQ(s->metadata().sha256, model::Sha256Hex("A-weights"));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> same, registry_->Resolve("default", 1));
  EXPECT_EQ(same.get(), s.get());
}

TEST_F(ModelRegistryTest, KeepsTheNewestVersionsAndEvictsOlderOnes) {
  Open();
  ASSERT_OK(Push(1, "A"));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> pinned, registry_->Resolve("", 1));
  ASSERT_OK(Push(2, "B"));
  ASSERT_OK(Push(3, "C"));
  EXPECT_THAT(Versions(*registry_->snapshot(), "default"), ElementsAre(3, 2));
  EXPECT_THAT(registry_->Resolve("", 1),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("loaded versions: 3, 2")));
  EXPECT_FALSE(std::filesystem::exists(PathOf("default", 1)));
  EXPECT_TRUE(std::filesystem::exists(PathOf("default", 2)));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> newest, registry_->Resolve("", 0));
  EXPECT_EQ(newest->version(), 3u);
  // A version pinned before its eviction still computes.
  std::vector<float> image(64, 0.5f), latent(4);
  ASSERT_OK(pinned->runner().Encode(image, 1, absl::MakeSpan(latent)));
  EXPECT_EQ(latent[0], FakeLatent(image, 0, 'A'));
}

TEST_F(ModelRegistryTest, UnknownNameListsWhatIsLoaded) {
  Open();
  ASSERT_OK(Push(1, "A"));
  ASSERT_OK(Push(4, "B", "faces"));
  EXPECT_THAT(registry_->Resolve("cars", 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("loaded: default v1; faces v4")));
}

TEST_F(ModelRegistryTest, RepeatedAndConflictingVersions) {
  Open();
  ASSERT_OK(Push(5, "A"));
  ASSERT_OK_AND_ASSIGN(PushResult again, Push(5, "A"));
  EXPECT_TRUE(again.already_present);
  EXPECT_THAT(Push(5, "Z"),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("different weights")));
  ASSERT_OK_AND_ASSIGN(PushResult next, Push(0, "B"));
  EXPECT_EQ(next.metadata.version, 6u) << "version 0 = the next one";
  EXPECT_THAT(Push(4, "C"), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("older than every kept version")));
  EXPECT_THAT(Versions(*registry_->snapshot(), "default"), ElementsAre(6, 5));
}

TEST_F(ModelRegistryTest, RefusedPushesLeaveTheCurrentModelServing) {
  Open();
  ASSERT_OK(Push(1, "A"));
  std::shared_ptr<const RegistrySnapshot> before = registry_->snapshot();
  LogCapture logs(google::GLOG_WARNING);

  EXPECT_THAT(Push(2, "bad weights"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("do not load")));
  model::Checkpoint corrupt = FakeCheckpoint("default", 2, "B");
  corrupt.weights[0] = 'X';
  EXPECT_THAT(registry_->Push(corrupt), StatusIs(absl::StatusCode::kDataLoss, ::testing::_));
  EXPECT_THAT(registry_->Push(FakeCheckpoint("default", 2, "B", "transformer")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("architecture")));
  EXPECT_THAT(registry_->Push(FakeCheckpoint("bad/name", 2, "B")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model name")));
  model::Checkpoint bad_norm = FakeCheckpoint("default", 2, "B");
  bad_norm.metadata.normalization.std = {0.0f};
  EXPECT_THAT(registry_->Push(bad_norm),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("std[0]")));

  EXPECT_THAT(Push(2, "nowarm"),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("warm-up at batch size 1")));

  EXPECT_EQ(registry_->snapshot().get(), before.get()) << "nothing was published";
  EXPECT_FALSE(std::filesystem::exists(PathOf("default", 2)));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> s, registry_->Resolve("", 0));
  EXPECT_EQ(s->version(), 1u);
  // Each refusal is logged with its cause.
  const std::vector<std::string> warnings = logs.messages();
  EXPECT_EQ(warnings.size(), 6u);
  EXPECT_THAT(warnings,
              Contains(AllOf(HasSubstr("push of model 'default' version 2"),
                             HasSubstr("still serving default v1"), HasSubstr("do not load"))));
  EXPECT_THAT(warnings, Contains(AllOf(HasSubstr("refused"), HasSubstr("DATA_LOSS"))));
  EXPECT_THAT(warnings, Contains(AllOf(HasSubstr("refused"), HasSubstr("warm-up at batch size 1"),
                                       HasSubstr("device out of memory"))));
}

TEST_F(ModelRegistryTest, RestartServesTheSameModels) {
  Open();
  ASSERT_OK(Push(1, "A"));
  ASSERT_OK(Push(2, "B"));
  ASSERT_OK(Push(3, "C"));
  ASSERT_OK(Push(1, "F", "faces"));
  registry_.reset();
  log_->Clear();
  Open();
  EXPECT_THAT(Versions(*registry_->snapshot(), "default"), ElementsAre(3, 2));
  EXPECT_THAT(Versions(*registry_->snapshot(), "faces"), ElementsAre(1));
  EXPECT_TRUE(registry_->restore_errors().empty());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> s, registry_->Resolve("", 3));
  EXPECT_EQ(s->metadata().sha256, model::Sha256Hex("C"));
  EXPECT_EQ(log_->EncodeSizes().size(), 3u * 4u) << "restored versions are warmed up too";
}

TEST_F(ModelRegistryTest, RestoreSkipsACorruptFileAndLoadsTheNextOlder) {
  Open();
  ASSERT_OK(Push(1, "A"));
  ASSERT_OK(Push(2, "B"));
  registry_.reset();
  {
    // Flip the last byte of v2's weights.
    std::fstream f(PathOf("default", 2), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    char c;
    f.get(c);
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  LogCapture logs(google::GLOG_WARNING);
  Open();
  EXPECT_THAT(Versions(*registry_->snapshot(), "default"), ElementsAre(1));
  ASSERT_EQ(registry_->restore_errors().size(), 1u);
  EXPECT_THAT(registry_->restore_errors()[0], HasSubstr("v000002.ckpt"));
  EXPECT_THAT(registry_->restore_errors()[0], HasSubstr("DATA_LOSS"));
  EXPECT_THAT(logs.messages(),
              ElementsAre(AllOf(HasSubstr("not restored"), HasSubstr("v000002.ckpt"),
                                HasSubstr("DATA_LOSS"))));
}

TEST_F(ModelRegistryTest, AVersionWhoseWarmUpFailsAtStartIsLoggedAndSkipped) {
  Open();
  ASSERT_OK(Push(1, "A"));
  registry_.reset();
  // A stored v2 that verifies but whose warm-up fails on this machine.
  const model::Checkpoint v2 = FakeCheckpoint("default", 2, "nowarm");
  ASSERT_OK(model::WriteCheckpointFile(PathOf("default", 2), v2));
  LogCapture logs(google::GLOG_WARNING);
  Open();
  EXPECT_THAT(Versions(*registry_->snapshot(), "default"), ElementsAre(1));
  EXPECT_THAT(
      logs.messages(),
      ElementsAre(AllOf(HasSubstr("not restored"), HasSubstr("v000002.ckpt"),
                        HasSubstr("warm-up at batch size 1"), HasSubstr("device out of memory"))));
}

TEST_F(ModelRegistryTest, PushAsyncRunsOnTheLoaderThread) {
  ModelRegistryOptions o = Options();
  std::atomic<bool> loader_started{false};
  o.on_loader_start = [&] { loader_started = true; };
  ASSERT_OK_AND_ASSIGN(registry_, ModelRegistry::Create(o));
  testing::Notification done;
  absl::StatusOr<PushResult> result = absl::UnknownError("not run");
  std::thread::id thread;
  registry_->PushAsync(FakeCheckpoint("default", 1, "A"), [&](absl::StatusOr<PushResult> r) {
    result = std::move(r);
    thread = std::this_thread::get_id();
    done.Notify();
  });
  done.WaitForNotification();
  ASSERT_OK(result.status());
  EXPECT_NE(thread, std::this_thread::get_id());
  EXPECT_TRUE(loader_started);
  registry_->Shutdown();
  absl::StatusOr<PushResult> late = absl::UnknownError("not run");
  registry_->PushAsync(FakeCheckpoint("default", 2, "B"),
                       [&](absl::StatusOr<PushResult> r) { late = std::move(r); });
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shutting down")));
}

TEST_F(ModelRegistryTest, ShutdownFinishesTheRunningPushAndRefusesQueuedOnes) {
  ModelRegistryOptions o = Options();
  // The load of weights "A" blocks until the test releases it.
  testing::Notification loading, release;
  o.factory = [inner = o.factory, &loading, &release](const model::Checkpoint& c) {
    if (c.weights == "A") {
      loading.Notify();
      release.WaitForNotification();
    }
    return inner(c);
  };
  ASSERT_OK_AND_ASSIGN(registry_, ModelRegistry::Create(o));
  LogCapture logs(google::GLOG_WARNING);
  // Each written once on the thread that runs its `done`, read after
  // `finished` / the join below.
  absl::StatusOr<PushResult> first = absl::UnknownError("not run");
  std::vector<absl::StatusOr<PushResult>> queued(2, absl::UnknownError("not run"));
  testing::Notification finished;
  testing::BlockingCounter refused(2);
  registry_->PushAsync(FakeCheckpoint("default", 1, "A"), [&](absl::StatusOr<PushResult> r) {
    first = std::move(r);
    finished.Notify();
  });
  loading.WaitForNotification();
  for (int i = 0; i < 2; ++i) {
    registry_->PushAsync(FakeCheckpoint("default", 2 + i, i == 0 ? "B" : "C"),
                         [&, i](absl::StatusOr<PushResult> r) {
                           queued[i] = std::move(r);
                           refused.DecrementCount();
                         });
  }
  // Shutdown refuses the queued pushes at once, then waits for the running one.
  std::thread shutdown([this] { registry_->Shutdown(); });
  refused.Wait();
  EXPECT_FALSE(finished.HasBeenNotified());
  release.Notify();
  shutdown.join();
  ASSERT_TRUE(finished.HasBeenNotified());
  ASSERT_OK(first.status());
  EXPECT_EQ(first->metadata.version, 1u);
  for (const auto& r : queued) {
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("shut down before")));
  }
  EXPECT_THAT(Versions(*registry_->snapshot(), "default"), ElementsAre(1));
  EXPECT_THAT(logs.messages(), Contains(AllOf(HasSubstr("shutting down: 2 queued push(es)"),
                                              HasSubstr("refused with UNAVAILABLE"))));
}

// --- The receiver.

std::vector<v1::CheckpointChunk> Chunks(const model::Checkpoint& c, size_t chunk_bytes) {
  std::vector<v1::CheckpointChunk> out(1);
  *out[0].mutable_metadata() = model::CheckpointMetadataToProto(c.metadata);
  for (size_t off = 0; off < c.weights.size(); off += chunk_bytes) {
    out.emplace_back().set_data(c.weights.substr(off, chunk_bytes));
  }
  return out;
}

TEST(CheckpointReceiverTest, ReassemblesAndVerifies) {
  model::Checkpoint c = FakeCheckpoint("default", 3, std::string(1000, 'w'));
  CheckpointReceiver r(1 << 20);
  for (const auto& chunk : Chunks(c, 64)) ASSERT_OK(r.Add(chunk));
  ASSERT_OK_AND_ASSIGN(model::Checkpoint got, r.Finish());
  EXPECT_EQ(got.weights, c.weights);
  EXPECT_EQ(got.metadata.version, 3u);
  EXPECT_EQ(got.metadata.sha256, c.metadata.sha256);
  EXPECT_EQ(got.metadata.input_shape, c.metadata.input_shape);
}

TEST(CheckpointReceiverTest, TruncatedStreamIsDataLoss) {
  model::Checkpoint c = FakeCheckpoint("default", 3, std::string(1000, 'w'));
  std::vector<v1::CheckpointChunk> chunks = Chunks(c, 100);
  chunks.pop_back();
  CheckpointReceiver r(1 << 20);
  for (const auto& chunk : chunks) ASSERT_OK(r.Add(chunk));
  EXPECT_THAT(r.Finish(), StatusIs(absl::StatusCode::kDataLoss,
                                   HasSubstr("truncated checkpoint: the stream ended after "
                                             "900 of 1000 bytes")));
}

TEST(CheckpointReceiverTest, ExtraBytesAndChecksumMismatchAreDataLoss) {
  model::Checkpoint c = FakeCheckpoint("default", 3, std::string(100, 'w'));
  {
    std::vector<v1::CheckpointChunk> chunks = Chunks(c, 100);
    chunks.emplace_back().set_data("x");
    CheckpointReceiver r(1 << 20);
    ASSERT_OK(r.Add(chunks[0]));
    ASSERT_OK(r.Add(chunks[1]));
    EXPECT_THAT(r.Add(chunks[2]),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr("more than the announced 100")));
  }
  {
    std::vector<v1::CheckpointChunk> chunks = Chunks(c, 10);
    chunks[3].mutable_data()->at(0) = 'Q';
    CheckpointReceiver r(1 << 20);
    for (const auto& chunk : chunks) ASSERT_OK(r.Add(chunk));
    EXPECT_THAT(r.Finish(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum mismatch")));
  }
}

TEST(CheckpointReceiverTest, StreamShapeErrors) {
  model::Checkpoint c = FakeCheckpoint("default", 3, std::string(100, 'w'));
  std::vector<v1::CheckpointChunk> chunks = Chunks(c, 50);
  {
    CheckpointReceiver r(1 << 20);
    EXPECT_THAT(r.Add(chunks[1]),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("before any metadata")));
  }
  {
    CheckpointReceiver r(1 << 20);
    ASSERT_OK(r.Add(chunks[0]));
    EXPECT_THAT(r.Add(chunks[0]),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("second metadata")));
  }
  {
    CheckpointReceiver r(1 << 20);
    EXPECT_THAT(r.Finish(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without metadata")));
  }
  {
    CheckpointReceiver r(99);
    EXPECT_THAT(r.Add(chunks[0]),
                StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("at most 99")));
  }
  {
    v1::CheckpointChunk m = chunks[0];
    m.mutable_metadata()->set_architecture("vit");
    CheckpointReceiver r(1 << 20);
    EXPECT_THAT(r.Add(m), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("architecture")));
  }
  {
    v1::CheckpointChunk m = chunks[0];
    m.mutable_metadata()->set_sha256("abc");
    CheckpointReceiver r(1 << 20);
    EXPECT_THAT(r.Add(m), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sha256")));
  }
}

// --- A servable's batches.

class ServableTest : public ModelRegistryTest {};

struct Outcome {
  absl::Status status = absl::UnknownError("not done");
  std::vector<float> latents;
  std::vector<float> reconstructions;
  TaskTiming timing;
};

TEST_F(ServableTest, BatchesGatherEncodeScatterAndDecode) {
  Open();
  ASSERT_OK(Push(1, "A"));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Servable> s, registry_->Resolve("", 0));
  log_->Clear();
  const size_t per = 64;
  auto images = [&](size_t n, float base) {
    std::vector<float> v(n * per);
    for (size_t i = 0; i < v.size(); ++i) v[i] = base + static_cast<float>(i % 7) * 0.01f;
    return v;
  };
  std::vector<Outcome> out(3);
  const std::vector<size_t> sizes = {3, 2, 4};  // Batches of 4: [3 + 1], [1 + 3], [1].
  std::vector<std::vector<float>> inputs;
  for (size_t k = 0; k < sizes.size(); ++k) {
    inputs.push_back(images(sizes[k], static_cast<float>(k)));
    ASSERT_OK(s->Submit(std::make_unique<InferenceTask>(
        s, inputs.back(), sizes[k], /*reconstruct=*/k == 1, absl::InfiniteFuture(),
        [&out, k](InferenceTask& t, const absl::Status& st, const TaskTiming& timing) {
          out[k].status = st;
          out[k].latents = t.latents();
          out[k].reconstructions = t.reconstructions();
          out[k].timing = timing;
        })));
  }
  while (scheduler_->RunOnce()) {
  }
  EXPECT_THAT(log_->EncodeSizes(), ElementsAre(4, 4, 1));
  for (size_t k = 0; k < sizes.size(); ++k) {
    ASSERT_OK(out[k].status);
    ASSERT_EQ(out[k].latents.size(), sizes[k] * 4);
    for (size_t i = 0; i < sizes[k]; ++i) {
      std::vector<float> image(inputs[k].begin() + i * per, inputs[k].begin() + (i + 1) * per);
      for (int j = 0; j < 4; ++j) {
        EXPECT_EQ(out[k].latents[i * 4 + j], FakeLatent(image, j, 'A'))
            << "task " << k << " image " << i << " latent " << j;
      }
    }
  }
  // Only the Reconstruct task's images were decoded, in order.
  ASSERT_EQ(out[1].reconstructions.size(), 2 * per);
  EXPECT_EQ(out[1].reconstructions[0], out[1].latents[0]);
  EXPECT_EQ(out[1].reconstructions[per], out[1].latents[4]);
  EXPECT_TRUE(out[0].reconstructions.empty());
  EXPECT_EQ(s->requests_served(), 3u);
  EXPECT_EQ(s->images_served(), 9u);
}

}  // namespace
}  // namespace latentsearch::encoder

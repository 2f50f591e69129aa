// The real binaries end to end: latentsearch-trainer trains `conv` on a
// small folder of PNG files (40×40, resized to 32×32 by both sides) and
// pushes its checkpoint to a real latentsearch-encoder; the encoder's
// embeddings of the same PNG bytes equal the trainer-side encoder output
// (the trainer's stored checkpoint, loaded here, on the trainer's own
// preprocessing: ReadImageFolder + NormalizeRange) to 1e-5. Then a
// corrupted push is refused while the pushed version keeps serving, and a
// restarted encoder serves the same model. All on loopback, port 0.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/base/file.h"
#include "common/data/dataset.h"
#include "common/data/image_folder.h"
#include "common/image/image.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "common/model/model.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
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
using ::testing::HasSubstr;

constexpr char kModel[] = "integration";

// Two classes of 24 structured 40×40 RGB images (gradients plus noise).
void WriteImages(const std::string& root) {
  std::mt19937_64 rng(17);
  for (int cls = 0; cls < 2; ++cls) {
    const std::string dir = root + "/class" + std::to_string(cls);
    ASSERT_OK(base::MakeDirs(dir));
    for (int i = 0; i < 24; ++i) {
      image::Image img(40, 40, 3);
      for (int y = 0; y < 40; ++y) {
        for (int x = 0; x < 40; ++x) {
          for (int c = 0; c < 3; ++c) {
            const int base = cls == 0 ? (x * 6 + c * 40) : (y * 6 + (2 - c) * 40);
            img.at(y, x)[c] = static_cast<uint8_t>((base + i * 3 + (rng() % 16)) & 0xff);
          }
        }
      }
      char name[32];
      std::snprintf(name, sizeof(name), "/img%02d.png", i);
      ASSERT_OK(base::WriteFileAtomically(dir + name, *image::EncodePng(img)));
    }
  }
}

std::unique_ptr<Subprocess> StartEncoder(const std::string& data_dir, const std::string& log) {
  auto p = Subprocess::StartServer(
      {BinaryPath("latentsearch-encoder"), "--listen=127.0.0.1:0", "--data_dir=" + data_dir,
       "--device=auto", "--threads=1", "--max_batch_size=16", "--max_queue_delay_us=200",
       // Equal to the trainer-side fp32 output to 1e-5: no bf16.
       "--precision=fp32"},
      log);
  EXPECT_OK(p.status());
  return p.ok() ? *std::move(p) : nullptr;
}

grpc::Status Encode(v1::Encoder::Stub* stub, const std::vector<std::string>& pngs,
                    v1::EncodeResponse* response, uint64_t version = 0) {
  v1::EncodeRequest request;
  request.mutable_model()->set_name(kModel);
  request.mutable_model()->set_version(version);
  for (const auto& png : pngs) request.add_images()->set_encoded(png);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return stub->Encode(&ctx, request, response);
}

void ExpectEqual(const v1::EncodeResponse& r, const std::vector<float>& want, int latent) {
  ASSERT_EQ(static_cast<size_t>(r.embeddings_size()) * latent, want.size());
  double worst = 0;
  for (int i = 0; i < r.embeddings_size(); ++i) {
    ASSERT_EQ(r.embeddings(i).values_size(), latent);
    for (int j = 0; j < latent; ++j) {
      worst = std::max(
          worst, static_cast<double>(std::abs(r.embeddings(i).values(j) - want[i * latent + j])));
    }
  }
  std::printf("largest |encoder - trainer-side| over %d embeddings: %g\n", r.embeddings_size(),
              worst);
  EXPECT_LE(worst, 1e-5) << "largest difference from the trainer-side encoder";
}

TEST(TrainerPushTest, TrainerPushesToARealEncoderAndEmbeddingsMatch) {
  TempDir dir;
  const std::string images = dir.Join("images");
  WriteImages(images);
  if (::testing::Test::HasFatalFailure()) return;

  std::unique_ptr<Subprocess> encoder = StartEncoder(dir.Join("encoder"), dir.Join("encoder.log"));
  ASSERT_NE(encoder, nullptr);
  auto echannel = rpc::CreateChannel(encoder->address());
  auto estub = v1::Encoder::NewStub(echannel);
  EXPECT_THAT(
      rpc::CheckHealth(echannel, "latentsearch.v1.Encoder"),
      ::latentsearch::testing::IsOkAndHolds(grpc::health::v1::HealthCheckResponse::NOT_SERVING));

  auto trainer = Subprocess::StartServer(
      {BinaryPath("latentsearch-trainer"), "--listen=127.0.0.1:0",
       "--data_dir=" + dir.Join("trainer"), "--push_to=" + encoder->address(), "--push_attempts=3",
       "--push_backoff_seconds=0.05", "--threads=1", "--cuda=false"},
      dir.Join("trainer.log"));
  ASSERT_OK(trainer.status());
  auto tstub = v1::Trainer::NewStub(rpc::CreateChannel((*trainer)->address()));

  v1::TrainingConfig config;
  config.set_model_name(kModel);
  config.set_architecture("conv");
  config.set_latent_size(10);
  config.mutable_input_shape()->set_height(32);
  config.mutable_input_shape()->set_width(32);
  config.mutable_input_shape()->set_channels(3);
  config.mutable_dataset()->set_image_folder(images);
  config.set_epochs(2);
  config.set_batch_size(16);
  config.set_seed(3);
  config.set_threads(1);
  config.set_checkpoint_policy(v1::CHECKPOINT_POLICY_END);
  v1::StartTrainingRequest start;
  *start.mutable_config() = config;
  v1::StartTrainingResponse started;
  {
    grpc::ClientContext ctx;
    grpc::Status s = tstub->StartTraining(&ctx, start, &started);
    ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  }
  std::vector<v1::CheckpointMetadata> checkpoints;
  std::vector<v1::PushEvent> pushes;
  {
    grpc::ClientContext ctx;
    v1::WatchTrainingRequest watch;
    watch.set_job_id(started.job_id());
    auto reader = tstub->WatchTraining(&ctx, watch);
    v1::TrainingEvent e;
    while (reader->Read(&e)) {
      if (e.has_checkpoint()) checkpoints.push_back(e.checkpoint().metadata());
      if (e.has_push()) pushes.push_back(e.push());
      if (e.has_state() && e.state().state() == v1::JOB_STATE_FAILED) {
        ADD_FAILURE() << "training failed: " << e.state().message();
      }
    }
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_EQ(checkpoints.size(), 1u);
  ASSERT_FALSE(pushes.empty());
  EXPECT_TRUE(pushes.back().ok()) << pushes.back().error_code() << ": " << pushes.back().message();
  const uint64_t version = checkpoints[0].model().version();

  EXPECT_THAT(
      rpc::CheckHealth(echannel, "latentsearch.v1.Encoder"),
      ::latentsearch::testing::IsOkAndHolds(grpc::health::v1::HealthCheckResponse::SERVING));

  // The trainer side: its stored checkpoint on its own preprocessing.
  ASSERT_OK_AND_ASSIGN(model::Checkpoint stored,
                       model::ReadCheckpointFile(dir.Join(
                           absl::StrFormat("trainer/checkpoints/%s/v%06d.ckpt", kModel, version))));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<model::Model> m, model::LoadModel(stored));
  data::ImageFolderOptions fo;
  fo.height = 32;
  fo.width = 32;
  fo.channels = 3;
  ASSERT_OK_AND_ASSIGN(data::Dataset d, data::ReadImageFolder(images, fo));
  std::vector<float> x(d.size() * d.image_bytes());
  ASSERT_OK(data::NormalizeRange(d, 0, d.size(), data::Layout::kNCHW, absl::MakeSpan(x)));
  ASSERT_OK_AND_ASSIGN(std::vector<float> want, m->Encode(x, d.size()));

  // The encoder side: the same files' bytes, in the same order.
  std::vector<std::string> pngs;
  for (const std::string& uri : d.uris) pngs.push_back(*base::ReadFile(uri));
  v1::EncodeResponse r;
  grpc::Status s = Encode(estub.get(), pngs, &r);
  ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  EXPECT_EQ(r.model().version(), version);
  ExpectEqual(r, want, 10);

  // A corrupted copy pushed as the next version is refused; the pushed
  // version keeps serving.
  {
    grpc::ClientContext ctx;
    v1::PushCheckpointResponse pr;
    auto writer = estub->PushCheckpoint(&ctx, &pr);
    v1::CheckpointChunk chunk;
    model::CheckpointMetadata meta = stored.metadata;
    meta.version = version + 1;
    *chunk.mutable_metadata() = model::CheckpointMetadataToProto(meta);
    ASSERT_TRUE(writer->Write(chunk));
    std::string corrupt = stored.weights;
    corrupt[corrupt.size() / 2] ^= 0x01;
    chunk.set_data(corrupt);
    writer->Write(chunk);
    writer->WritesDone();
    grpc::Status ps = writer->Finish();
    EXPECT_EQ(ps.error_code(), grpc::DATA_LOSS) << rpc::FormatGrpcStatus(ps);
  }
  v1::EncodeResponse after;
  ASSERT_TRUE(Encode(estub.get(), pngs, &after).ok());
  EXPECT_EQ(after.model().version(), version);
  ExpectEqual(after, want, 10);
  {
    grpc::ClientContext ctx;
    v1::ListModelsResponse list;
    ASSERT_TRUE(estub->ListModels(&ctx, v1::ListModelsRequest(), &list).ok());
    ASSERT_EQ(list.models_size(), 1);
    EXPECT_EQ(list.models(0).metadata().sha256(), stored.metadata.sha256);
    EXPECT_EQ(list.models(0).metadata().job_id(), started.job_id());
    if (!model::CudaAvailable()) {
      EXPECT_THAT(list.device(), HasSubstr("cpu: "));
    }
  }

  // SIGTERM drains and exits 0; a restarted encoder serves the same model.
  const int tstatus = (*trainer)->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(tstatus) && WEXITSTATUS(tstatus) == 0) << tstatus;
  estub.reset();
  echannel.reset();
  const int estatus = encoder->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(estatus) && WEXITSTATUS(estatus) == 0) << estatus;
  encoder = StartEncoder(dir.Join("encoder"), dir.Join("encoder2.log"));
  ASSERT_NE(encoder, nullptr);
  auto stub2 = v1::Encoder::NewStub(rpc::CreateChannel(encoder->address()));
  v1::EncodeResponse restarted;
  ASSERT_TRUE(Encode(stub2.get(), pngs, &restarted, version).ok());
  ExpectEqual(restarted, want, 10);
}

// latentsearch-trainer --push_file pushes a checkpoint file written elsewhere
// (here: by this test, as quality_bench --out does) to a real encoder under a
// new name; the encoder serves exactly those weights. Bad uses exit 1 with
// a message and push nothing.
TEST(TrainerPushFileTest, PushesACheckpointFileUnderANewName) {
  TempDir dir;
  model::ModelSpec spec{"conv", 10, {32, 32, 3}};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<model::Model> m, model::Model::Create(spec));
  ASSERT_OK_AND_ASSIGN(std::string weights, m->SerializeWeights());
  model::CheckpointMetadata meta;
  meta.model_name = "elsewhere";
  meta.architecture = spec.architecture;
  meta.latent_size = spec.latent_size;
  meta.input_shape = spec.input;
  const std::string file = dir.Join("model.ckpt");
  ASSERT_OK(model::WriteCheckpointFile(file, model::MakeCheckpoint(meta, weights)));

  std::unique_ptr<Subprocess> encoder = StartEncoder(dir.Join("encoder"), dir.Join("encoder.log"));
  ASSERT_NE(encoder, nullptr);
  const std::string trainer = BinaryPath("latentsearch-trainer");
  std::string out;
  EXPECT_EQ(RunShell(trainer + " --push_file=" + file + " --push_model=" + kModel +
                         " --push_to=" + encoder->address(),
                     &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("as model 'integration' to " + encoder->address())) << out;

  // Bad uses: no encoder named, a missing file, a bad name, an encoder that is
  // not there. A file push reads no training flags: bad ones do not fail it
  // (here it fails for its own reason).
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {" --push_file=" + file, "needs --push_to"},
      {" --push_file=" + file + " --precision=fp64 --formulation=nope", "needs --push_to"},
      {" --push_file=" + dir.Join("missing.ckpt") + " --push_to=" + encoder->address(),
       "NOT_FOUND"},
      {" --push_file=" + file + " --push_model=../x --push_to=" + encoder->address(),
       "--push_model"},
      {" --push_file=" + file + " --push_to=127.0.0.1:1", "UNAVAILABLE"},
      {" --push_file=" + file + " --push_deadline_seconds=0 --push_to=" + encoder->address(),
       "--push_deadline_seconds=0: expected seconds > 0"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_EQ(RunShell(trainer + c.args, &err), 1) << c.args << "\n" << err;
    EXPECT_THAT(err, HasSubstr(c.message)) << c.args;
  }

  auto stub = v1::Encoder::NewStub(rpc::CreateChannel(encoder->address()));
  {
    grpc::ClientContext ctx;
    v1::ListModelsResponse list;
    ASSERT_TRUE(stub->ListModels(&ctx, v1::ListModelsRequest(), &list).ok());
    ASSERT_EQ(list.models_size(), 1) << "only the good push is stored";
    EXPECT_EQ(list.models(0).metadata().model().name(), kModel);
    EXPECT_EQ(list.models(0).metadata().model().version(), 1u);
    EXPECT_EQ(list.models(0).metadata().sha256(), model::Sha256Hex(weights));
  }
  // The served embeddings are this model's.
  image::Image img(32, 32, 3);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      for (int c = 0; c < 3; ++c) img.at(y, x)[c] = static_cast<uint8_t>(x * 7 + y * 3 + c * 50);
    }
  }
  std::vector<float> x(32 * 32 * 3);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 32; ++y) {
      for (int xx = 0; xx < 32; ++xx) x[(c * 32 + y) * 32 + xx] = img.at(y, xx)[c] / 255.0f;
    }
  }
  ASSERT_OK_AND_ASSIGN(std::vector<float> want, m->Encode(x, 1));
  v1::EncodeResponse r;
  grpc::Status s = Encode(stub.get(), {*image::EncodePng(img)}, &r);
  ASSERT_TRUE(s.ok()) << rpc::FormatGrpcStatus(s);
  ExpectEqual(r, want, 10);
}

}  // namespace
}  // namespace latentsearch::encoder

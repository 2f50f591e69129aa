// The Encoder service through its gRPC stub, in-process, with real LibTorch
// models (conv, 32×32×3) made in the test: checkpoints are pushed over the
// PushCheckpoint stream exactly as the trainer pushes them, and embeddings
// are compared with model::Model::Encode on the same images, normalised
// the trainer's way (data::NormalizeRange).
#include "services/encoder/encoder_service.h"

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"
#include "common/image/image.h"
#include "common/model/checkpoint.h"
#include "common/model/checkpoint_proto.h"
#include "common/model/model.h"
#include "common/rpc/channel.h"
#include "common/rpc/health_client.h"
#include "common/rpc/server.h"
#include "common/rpc/status_util.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "common/testing/test_images.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/encoder.grpc.pb.h"
#include "services/encoder/encoder_core.h"
#include "services/encoder/model_runner.h"

namespace latentsearch::encoder {
namespace {

using ::latentsearch::testing::RawImageProto;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kService[] = "latentsearch.v1.Encoder";
constexpr int kSide = 32, kChannels = 3, kLatent = 10;
constexpr size_t kPer = kSide * kSide * kChannels;

// A model made here and the checkpoint the trainer would write for it.
struct Made {
  std::unique_ptr<model::Model> model;
  model::Checkpoint checkpoint;
};

Made MakeModel(uint64_t seed, uint64_t version, const std::string& name = "default") {
  Made m;
  model::ModelOptions options;
  options.seed = seed;
  m.model = *model::Model::Create({"conv", kLatent, {kSide, kSide, kChannels}}, options);
  model::CheckpointMetadata meta;
  meta.model_name = name;
  meta.version = version;
  meta.architecture = "conv";
  meta.latent_size = kLatent;
  meta.input_shape = {kSide, kSide, kChannels};
  meta.dataset = "test";
  meta.encoder_parameters = m.model->encoder_parameters();
  meta.decoder_parameters = m.model->decoder_parameters();
  m.checkpoint = model::MakeCheckpoint(meta, *m.model->SerializeWeights());
  return m;
}

std::vector<image::Image> RandomImages(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<image::Image> out;
  for (size_t i = 0; i < n; ++i) {
    image::Image img(kSide, kSide, kChannels);
    for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() & 0xff);
    out.push_back(std::move(img));
  }
  return out;
}

// The trainer's input for `images` (NCHW floats in [0, 1]).
std::vector<float> TrainerInput(const std::vector<image::Image>& images) {
  data::Dataset d;
  d.source = "test";
  d.height = kSide;
  d.width = kSide;
  d.channels = kChannels;
  for (const auto& img : images) {
    d.pixels.insert(d.pixels.end(), img.pixels.begin(), img.pixels.end());
    d.labels.push_back(data::kNoLabel);
  }
  std::vector<float> out(images.size() * kPer);
  EXPECT_OK(data::NormalizeRange(d, 0, images.size(), data::Layout::kNCHW, absl::MakeSpan(out)));
  return out;
}

std::vector<float> Reference(model::Model& m, const std::vector<image::Image>& images) {
  return *m.Encode(TrainerInput(images), images.size());
}

void ExpectEmbeddings(const v1::EncodeResponse& r, const std::vector<float>& want,
                      double tolerance = 1e-5) {
  ASSERT_EQ(r.dim(), static_cast<uint32_t>(kLatent));
  ASSERT_EQ(static_cast<size_t>(r.embeddings_size()) * kLatent, want.size());
  for (int i = 0; i < r.embeddings_size(); ++i) {
    ASSERT_EQ(r.embeddings(i).values_size(), kLatent);
    for (int j = 0; j < kLatent; ++j) {
      EXPECT_NEAR(r.embeddings(i).values(j), want[i * kLatent + j], tolerance)
          << "image " << i << " value " << j;
    }
  }
}

class EncoderServiceTest : public ::testing::Test {
 protected:
  void Start(int keep_versions = 2) {
    EncoderCoreOptions o;
    o.data_dir = dir_.path();
    o.device = *ResolveDevice("auto");
    o.factory = TorchRunnerFactory(o.device);
    o.max_batch_size = 16;
    o.max_queue_delay = absl::Microseconds(200);
    o.keep_versions = keep_versions;
    o.max_images_per_request = 64;
    o.warmup_batch_sizes = {1, 16};
    // Encode must equal Model::Encode (fp32) to 1e-5: pin the precision
    // (--precision=auto could pick bf16 on a CPU where it is faster).
    o.precision = model::Precision::kFloat32;
    ASSERT_OK_AND_ASSIGN(core_, EncoderCore::Create(o));
    service_ = std::make_unique<EncoderService>(core_.get());
    rpc::ServerOptions so;
    // Loopback TCP on port 0: with a unix socket, gRPC 1.51 sometimes takes
    // 10 s to tear a server or channel down after calls that ended in errors.
    so.listen = "127.0.0.1:0";
    so.health_names = {kService};
    so.initially_not_serving = {kService};
    ASSERT_OK_AND_ASSIGN(server_, rpc::Server::Start(so, {service_.get()}));
    rpc::Server* srv = server_.get();
    core_->SetReadinessListener([srv](bool ready) { srv->SetServing(kService, ready); });
    channel_ = rpc::CreateChannel(server_->address());
    stub_ = v1::Encoder::NewStub(channel_);
  }

  void TearDown() override {
    stub_.reset();
    channel_.reset();
    if (server_) server_->Shutdown(absl::Seconds(5));
    if (core_) {
      core_->Shutdown();
      core_->SetReadinessListener(nullptr);
    }
    server_.reset();
    service_.reset();
    core_.reset();
  }

  // Streams `c` as the trainer does; `edit` may corrupt the chunks.
  grpc::Status Push(const model::Checkpoint& c, v1::PushCheckpointResponse* response = nullptr,
                    std::function<void(std::vector<v1::CheckpointChunk>*)> edit = nullptr) {
    std::vector<v1::CheckpointChunk> chunks(1);
    *chunks[0].mutable_metadata() = model::CheckpointMetadataToProto(c.metadata);
    const size_t step = 64 << 10;
    for (size_t off = 0; off < c.weights.size(); off += step) {
      chunks.emplace_back().set_data(c.weights.substr(off, step));
    }
    if (edit) edit(&chunks);
    grpc::ClientContext ctx;
    v1::PushCheckpointResponse local;
    auto writer = stub_->PushCheckpoint(&ctx, response ? response : &local);
    for (const auto& chunk : chunks) {
      if (!writer->Write(chunk)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  grpc::Status Encode(const std::vector<image::Image>& images, v1::EncodeResponse* response,
                      uint64_t version = 0, const std::string& name = "") {
    v1::EncodeRequest request;
    request.mutable_model()->set_name(name);
    request.mutable_model()->set_version(version);
    for (const auto& img : images) *request.add_images() = RawImageProto(img);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return stub_->Encode(&ctx, request, response);
  }

  TempDir dir_;
  std::unique_ptr<EncoderCore> core_;
  std::unique_ptr<EncoderService> service_;
  std::unique_ptr<rpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Encoder::Stub> stub_;
};

TEST_F(EncoderServiceTest, NotServingAndUnavailableUntilAModelIsPushed) {
  Start();
  EXPECT_THAT(
      rpc::CheckHealth(channel_, kService),
      ::latentsearch::testing::IsOkAndHolds(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  v1::EncodeResponse r;
  grpc::Status s = Encode(RandomImages(1, 1), &r);
  EXPECT_EQ(s.error_code(), grpc::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("no model is loaded"));
  Made m = MakeModel(1, 1);
  v1::PushCheckpointResponse pushed;
  ASSERT_TRUE(Push(m.checkpoint, &pushed).ok());
  EXPECT_EQ(pushed.model().version(), 1u);
  EXPECT_FALSE(pushed.already_present());
  EXPECT_THAT(
      rpc::CheckHealth(channel_, kService),
      ::latentsearch::testing::IsOkAndHolds(grpc::health::v1::HealthCheckResponse::SERVING));
}

TEST_F(EncoderServiceTest, EncodeEqualsTheModelsEncoderOutput) {
  Start();
  Made m = MakeModel(3, 1);
  ASSERT_TRUE(Push(m.checkpoint).ok());
  const std::vector<image::Image> images = RandomImages(7, 42);
  v1::EncodeResponse r;
  grpc::Status s = Encode(images, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.model().name(), "default");
  EXPECT_EQ(r.model().version(), 1u);
  ExpectEmbeddings(r, Reference(*m.model, images));
  EXPECT_GE(r.timing().batch_size(), 7.0);
  // PNG bytes give the same embeddings as raw pixels.
  v1::EncodeRequest png;
  for (const auto& img : images) png.add_images()->set_encoded(*image::EncodePng(img));
  grpc::ClientContext ctx;
  v1::EncodeResponse r2;
  ASSERT_TRUE(stub_->Encode(&ctx, png, &r2).ok());
  ExpectEmbeddings(r2, Reference(*m.model, images));
  // A request larger than a batch is split and reassembled in order.
  const std::vector<image::Image> many = RandomImages(40, 43);
  v1::EncodeResponse r3;
  ASSERT_TRUE(Encode(many, &r3).ok());
  ExpectEmbeddings(r3, Reference(*m.model, many));
}

TEST_F(EncoderServiceTest, ReconstructReturnsTheDecodedImages) {
  Start();
  Made m = MakeModel(5, 1);
  ASSERT_TRUE(Push(m.checkpoint).ok());
  const std::vector<image::Image> images = RandomImages(3, 9);
  v1::ReconstructRequest request;
  for (const auto& img : images) *request.add_images() = RawImageProto(img);
  v1::ReconstructResponse r;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Reconstruct(&ctx, request, &r).ok());
  ASSERT_EQ(r.images_size(), 3);
  ASSERT_EQ(r.mse_size(), 3);
  const std::vector<float> x = TrainerInput(images);
  const std::vector<float> y = *m.model->Decode(*m.model->Encode(x, 3), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.images(i).height(), static_cast<uint32_t>(kSide));
    EXPECT_EQ(r.images(i).channels(), static_cast<uint32_t>(kChannels));
    double mse = 0;
    for (size_t k = 0; k < kPer; ++k) {
      const double d = x[i * kPer + k] - y[i * kPer + k];
      mse += d * d;
    }
    EXPECT_NEAR(r.mse(i), mse / kPer, 1e-5);
    // Pixel (0, 0), channel 0 is plane 0, element 0 of the reconstruction.
    const float v = std::min(255.0f, std::max(0.0f, std::nearbyint(y[i * kPer] * 255.0f)));
    EXPECT_NEAR(static_cast<uint8_t>(r.images(i).pixels()[0]), v, 1.0);
  }
}

TEST_F(EncoderServiceTest, AWhitenedModelServesItsEmbeddingAndReconstructsItsLatent) {
  Start();
  Made m = MakeModel(6, 1);
  const std::vector<image::Image> fit = RandomImages(12, 11);
  const std::vector<float> fx = TrainerInput(fit);
  ASSERT_OK(m.model->FitEmbeddingWhitening(fx, fit.size(), 0.1, /*mirror=*/true));
  ASSERT_OK_AND_ASSIGN(std::string weights, m.model->SerializeWeights());
  m.checkpoint = model::MakeCheckpoint(m.checkpoint.metadata, weights);
  ASSERT_TRUE(Push(m.checkpoint).ok());

  const std::vector<image::Image> images = RandomImages(5, 12);
  v1::EncodeResponse r;
  ASSERT_TRUE(Encode(images, &r).ok());
  ExpectEmbeddings(r, Reference(*m.model, images));
  for (int i = 0; i < r.embeddings_size(); ++i) {
    double norm = 0;
    for (float v : r.embeddings(i).values()) norm += v * v;
    EXPECT_NEAR(norm, 1.0, 1e-4) << i;
  }
  // Reconstruct decodes the encoder's latents (the model without its head).
  v1::ReconstructRequest request;
  for (const auto& img : images) *request.add_images() = RawImageProto(img);
  v1::ReconstructResponse rr;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Reconstruct(&ctx, request, &rr).ok());
  Made plain = MakeModel(6, 1);
  const std::vector<float> x = TrainerInput(images);
  const std::vector<float> y = *plain.model->Decode(*plain.model->Encode(x, 5), 5);
  ASSERT_EQ(rr.mse_size(), 5);
  for (int i = 0; i < 5; ++i) {
    double mse = 0;
    for (size_t k = 0; k < kPer; ++k) {
      const double d = x[i * kPer + k] - y[i * kPer + k];
      mse += d * d;
    }
    EXPECT_NEAR(rr.mse(i), mse / kPer, 1e-5) << i;
  }
}

TEST_F(EncoderServiceTest, BadPushesAreRefusedAndTheCurrentVersionKeepsServing) {
  Start();
  Made v1 = MakeModel(1, 1);
  ASSERT_TRUE(Push(v1.checkpoint).ok());
  Made v2 = MakeModel(2, 2);
  struct Case {
    std::string name;
    model::Checkpoint checkpoint;
    std::function<void(std::vector<v1::CheckpointChunk>*)> edit;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"flipped byte", v2.checkpoint,
                   [](auto* c) { (*(*c)[2].mutable_data())[10] ^= 0x40; }, grpc::DATA_LOSS,
                   "checksum mismatch"});
  cases.push_back(
      {"truncated", v2.checkpoint, [](auto* c) { c->pop_back(); }, grpc::DATA_LOSS, "truncated"});
  cases.push_back({"extra bytes", v2.checkpoint, [](auto* c) { c->emplace_back().set_data("xx"); },
                   grpc::DATA_LOSS, "more than the announced"});
  cases.push_back({"data first", v2.checkpoint, [](auto* c) { std::swap((*c)[0], (*c)[1]); },
                   grpc::INVALID_ARGUMENT, "before any metadata"});
  {
    model::Checkpoint unknown = v2.checkpoint;
    unknown.metadata.architecture = "transformer";
    cases.push_back(
        {"unknown architecture", unknown, nullptr, grpc::INVALID_ARGUMENT, "architecture"});
  }
  {
    model::Checkpoint wrong = v2.checkpoint;
    wrong.metadata.latent_size = 12;  // The weights are for latent 10.
    cases.push_back({"weights of another shape", wrong, nullptr, grpc::INVALID_ARGUMENT, ""});
  }
  {
    model::Checkpoint garbage = model::MakeCheckpoint(v2.checkpoint.metadata, "not an archive");
    cases.push_back({"weights not an archive", garbage, nullptr, grpc::INVALID_ARGUMENT, ""});
  }
  const std::vector<image::Image> images = RandomImages(2, 77);
  const std::vector<float> want = Reference(*v1.model, images);
  for (const Case& c : cases) {
    grpc::Status s = Push(c.checkpoint, nullptr, c.edit);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.name;
    v1::EncodeResponse r;
    ASSERT_TRUE(Encode(images, &r).ok()) << c.name;
    EXPECT_EQ(r.model().version(), 1u) << c.name;
    ExpectEmbeddings(r, want);
  }
  // The same checkpoint again is fine; other weights under its version are not.
  v1::PushCheckpointResponse again;
  ASSERT_TRUE(Push(v1.checkpoint, &again).ok());
  EXPECT_TRUE(again.already_present());
  model::Checkpoint clash = v2.checkpoint;
  clash.metadata.version = 1;
  EXPECT_EQ(Push(clash).error_code(), grpc::ALREADY_EXISTS);
}

TEST_F(EncoderServiceTest, PinnedVersionsAndUnknownOnes) {
  Start();
  Made a = MakeModel(11, 1), b = MakeModel(12, 2);
  ASSERT_TRUE(Push(a.checkpoint).ok());
  ASSERT_TRUE(Push(b.checkpoint).ok());
  const std::vector<image::Image> images = RandomImages(3, 5);
  v1::EncodeResponse r1, r2, r0;
  ASSERT_TRUE(Encode(images, &r1, 1).ok());
  ASSERT_TRUE(Encode(images, &r2, 2).ok());
  ASSERT_TRUE(Encode(images, &r0, 0).ok());
  EXPECT_EQ(r1.model().version(), 1u);
  EXPECT_EQ(r0.model().version(), 2u);
  ExpectEmbeddings(r1, Reference(*a.model, images));
  ExpectEmbeddings(r2, Reference(*b.model, images));
  ExpectEmbeddings(r0, Reference(*b.model, images));
  v1::EncodeResponse r;
  grpc::Status s = Encode(images, &r, 7);
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("loaded versions: 2, 1"));
  s = Encode(images, &r, 0, "faces");
  EXPECT_EQ(s.error_code(), grpc::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("loaded: default v2, v1"));
}

TEST_F(EncoderServiceTest, BadRequestsNameTheImage) {
  Start();
  ASSERT_TRUE(Push(MakeModel(1, 1).checkpoint).ok());
  v1::EncodeRequest request;
  for (const auto& img : RandomImages(3, 1)) *request.add_images() = RawImageProto(img);
  request.mutable_images(1)->mutable_raw()->set_channels(2);
  grpc::ClientContext ctx;
  v1::EncodeResponse r;
  grpc::Status s = stub_->Encode(&ctx, request, &r);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("image 1: "));
  v1::EncodeResponse r2;
  s = Encode(RandomImages(65, 2), &r2);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 64"));
}

TEST_F(EncoderServiceTest, ListModelsReportsVersionsDeviceAndCounts) {
  Start();
  ASSERT_TRUE(Push(MakeModel(1, 1).checkpoint).ok());
  ASSERT_TRUE(Push(MakeModel(2, 2).checkpoint).ok());
  v1::EncodeResponse r;
  ASSERT_TRUE(Encode(RandomImages(4, 3), &r).ok());
  grpc::ClientContext ctx;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&ctx, v1::ListModelsRequest(), &list).ok());
  ASSERT_EQ(list.models_size(), 2);
  EXPECT_EQ(list.models(0).metadata().model().version(), 2u);
  EXPECT_TRUE(list.models(0).newest());
  EXPECT_FALSE(list.models(1).newest());
  EXPECT_EQ(list.models(0).requests_served(), 1u);
  EXPECT_EQ(list.models(0).images_served(), 4u);
  EXPECT_EQ(list.models(1).requests_served(), 0u);
  EXPECT_EQ(list.models(0).metadata().architecture(), "conv");
  EXPECT_EQ(list.models(0).metadata().latent_size(), static_cast<uint32_t>(kLatent));
  EXPECT_GT(list.models(0).loaded_at().seconds(), 0);
  EXPECT_EQ(list.device_requested(), "auto");
  EXPECT_EQ(list.max_batch_size(), 16u);
  EXPECT_EQ(list.max_queue_delay_us(), 200u);
  if (!model::CudaAvailable()) {
    EXPECT_EQ(list.models(0).device(), "cpu");
    EXPECT_THAT(list.device(), HasSubstr("cpu: "));
    EXPECT_THAT(list.device_note(), HasSubstr("CUDA"));
  }
}

TEST_F(EncoderServiceTest, RestartServesTheSameModels) {
  Start();
  Made a = MakeModel(21, 4);
  ASSERT_TRUE(Push(a.checkpoint).ok());
  TearDown();
  Start();
  const std::vector<image::Image> images = RandomImages(2, 8);
  v1::EncodeResponse r;
  ASSERT_TRUE(Encode(images, &r).ok());
  EXPECT_EQ(r.model().version(), 4u);
  ExpectEmbeddings(r, Reference(*a.model, images));
}

// 64 clients encode back to back while two new versions are pushed (the
// oldest is evicted): no RPC fails, and every answer matches the version
// it names.
TEST_F(EncoderServiceTest, SixtyFourClientsDuringASwapSeeNoFailedRpc) {
  Start(/*keep_versions=*/2);
  std::vector<Made> models;
  for (int v = 1; v <= 3; ++v) models.push_back(MakeModel(30 + v, v));
  ASSERT_TRUE(Push(models[0].checkpoint).ok());
  constexpr int kClients = 64;
  const std::vector<image::Image> images = RandomImages(kClients, 99);
  std::vector<std::vector<float>> want;  // Per version, kClients × latent.
  for (auto& m : models) want.push_back(Reference(*m.model, images));

  std::atomic<bool> stop{false};
  std::atomic<bool> swapped{false};
  absl::BlockingCounter started(kClients), after_swap(kClients);
  std::atomic<int> failures{0}, mismatches{0};
  absl::Mutex mu;
  std::string first_failure;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::Encoder::NewStub(channel_);
      bool counted_start = false, counted_after = false;
      int calls_after = 0;
      while (!stop.load()) {
        const bool during = swapped.load();
        v1::EncodeRequest request;
        *request.add_images() = RawImageProto(images[c]);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
        v1::EncodeResponse r;
        grpc::Status s = stub->Encode(&ctx, request, &r);
        if (!s.ok()) {
          failures.fetch_add(1);
          absl::MutexLock l(&mu);
          if (first_failure.empty()) first_failure = s.error_message();
        } else {
          const uint64_t v = r.model().version();
          if (v < 1 || v > 3 || r.embeddings_size() != 1) {
            mismatches.fetch_add(1);
          } else {
            for (int j = 0; j < kLatent; ++j) {
              if (std::abs(r.embeddings(0).values(j) - want[v - 1][c * kLatent + j]) > 1e-5) {
                mismatches.fetch_add(1);
                break;
              }
            }
          }
        }
        if (!counted_start) {
          counted_start = true;
          started.DecrementCount();
        }
        if (during && ++calls_after >= 2 && !counted_after) {
          counted_after = true;
          after_swap.DecrementCount();
        }
      }
    });
  }
  started.Wait();
  ASSERT_TRUE(Push(models[1].checkpoint).ok());
  ASSERT_TRUE(Push(models[2].checkpoint).ok());
  swapped = true;
  after_swap.Wait();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_EQ(mismatches.load(), 0);
  v1::EncodeResponse r;
  EXPECT_EQ(Encode({images[0]}, &r, 1).error_code(), grpc::NOT_FOUND) << "v1 was evicted";
}

}  // namespace
}  // namespace latentsearch::encoder

#include "tests/unit/cli/pipeline_fixture.h"

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "grpcpp/server_builder.h"

namespace latentsearch::cli {

grpc::Status FakeEncoder::Encode(grpc::ServerContext*, const v1::EncodeRequest* req,
                                 v1::EncodeResponse* resp) {
  calls_++;
  resp->mutable_model()->set_name("fake");
  resp->mutable_model()->set_version(1);
  resp->set_dim(4);
  for (const v1::Image& img : req->images()) {
    image::Image pixels;
    if (img.has_raw()) {
      pixels = image::Image(img.raw().height(), img.raw().width(), img.raw().channels());
      pixels.pixels.assign(img.raw().pixels().begin(), img.raw().pixels().end());
    } else {
      absl::StatusOr<image::Image> d = image::Decode(img.encoded());
      if (!d.ok()) return grpc::Status(grpc::INVALID_ARGUMENT, "undecodable image");
      pixels = *d;
    }
    const size_t n = pixels.pixels.size();
    double a = 0, b = 0;
    for (size_t i = 0; i < n; ++i) (i < n / 2 ? a : b) += pixels.pixels[i];
    v1::Embedding* e = resp->add_embeddings();
    e->add_values(static_cast<float>(a / (n / 2 + 1) / 255));
    e->add_values(static_cast<float>(b / (n - n / 2) / 255));
    e->add_values(static_cast<float>(pixels.channels));
    e->add_values(1.f);
  }
  return grpc::Status::OK;
}

grpc::Status FakeEncoder::ListModels(grpc::ServerContext*, const v1::ListModelsRequest* req,
                                     v1::ListModelsResponse* resp) {
  if (!req->name().empty() && req->name() != "fake") return grpc::Status::OK;
  v1::ModelInfo* m = resp->add_models();
  m->mutable_metadata()->mutable_model()->set_name("fake");
  m->mutable_metadata()->mutable_model()->set_version(1);
  m->mutable_metadata()->set_latent_size(4);
  m->set_newest(true);
  return grpc::Status::OK;
}

::latentsearch::testing::TempDir* CliPipelineTest::tmp_ = nullptr;
::latentsearch::testing::Subprocess* CliPipelineTest::search_ = nullptr;
FakeEncoder* CliPipelineTest::encoder_ = nullptr;
grpc::Server* CliPipelineTest::server_ = nullptr;
std::string CliPipelineTest::encoder_address_;

void CliPipelineTest::SetUpTestSuite() {
  const std::string bin = ::latentsearch::testing::BinaryPath("latentsearch-search");
  if (!base::FileSize(bin).ok()) return;
  tmp_ = new ::latentsearch::testing::TempDir();
  encoder_ = new FakeEncoder();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(encoder_);
  server_ = builder.BuildAndStart().release();
  encoder_address_ = absl::StrCat("127.0.0.1:", port);
  absl::StatusOr<std::unique_ptr<::latentsearch::testing::Subprocess>> s =
      ::latentsearch::testing::Subprocess::StartServer(
          {bin, "--listen=127.0.0.1:0", "--data_dir=" + tmp_->Join("search"),
           "--encoder=" + encoder_address_},
          tmp_->Join("search.log"));
  if (!s.ok()) {
    ADD_FAILURE() << s.status();
    return;
  }
  search_ = s->release();
  for (int c = 0; c < 2; ++c) {
    for (int i = 0; i < 5; ++i) {
      image::Image img(12, 10, 3);
      for (size_t p = 0; p < img.pixels.size(); ++p) {
        img.pixels[p] = static_cast<uint8_t>(c * 180 + i * 3 + (p % 7));
      }
      const std::string path = tmp_->Join(absl::StrCat("set/", c ? "bee" : "ant", "/", i, ".png"));
      ASSERT_OK(base::MakeDirs(path.substr(0, path.find_last_of('/'))));
      ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
      ASSERT_OK(base::WriteFileAtomically(path, png));
    }
  }
}

void CliPipelineTest::TearDownTestSuite() {
  if (server_ != nullptr) server_->Shutdown();
  delete server_;
  delete encoder_;
  delete search_;
  delete tmp_;
  server_ = nullptr;
  encoder_ = nullptr;
  search_ = nullptr;
  tmp_ = nullptr;
}

void CliPipelineTest::SetUp() {
  if (search_ == nullptr) GTEST_SKIP() << "latentsearch-search not built";
}

std::vector<std::string> CliPipelineTest::Addr(std::vector<std::string> args) {
  args.push_back("--search_address=" + search_->address());
  if (args[0] == "ingest") args.push_back("--encoder_address=" + encoder_address_);
  return args;
}

}  // namespace latentsearch::cli

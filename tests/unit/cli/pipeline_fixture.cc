#include "tests/unit/cli/pipeline_fixture.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"

namespace latentsearch::cli {

namespace {

// The fixture's embedding: (mean of the first half of the pixel bytes, mean
// of the second half, channels, 1), the means scaled by 1/255.
std::vector<float> HalfMeans(const image::Image& pixels) {
  const size_t n = pixels.pixels.size();
  double a = 0, b = 0;
  for (size_t i = 0; i < n; ++i) (i < n / 2 ? a : b) += pixels.pixels[i];
  return {static_cast<float>(a / (n / 2 + 1) / 255), static_cast<float>(b / (n - n / 2) / 255),
          static_cast<float>(pixels.channels), 1.f};
}

}  // namespace

::latentsearch::testing::TempDir* CliPipelineTest::tmp_ = nullptr;
::latentsearch::testing::Subprocess* CliPipelineTest::search_ = nullptr;
::latentsearch::testing::FakeEncoderService* CliPipelineTest::encoder_ = nullptr;

void CliPipelineTest::SetUpTestSuite() {
  const std::string bin = ::latentsearch::testing::BinaryPath("latentsearch-search");
  if (!base::FileSize(bin).ok()) return;
  tmp_ = new ::latentsearch::testing::TempDir();
  ::latentsearch::testing::FakeEncoderService::Options options;
  options.model_name = "fake";
  options.version = 1;
  options.dim = 4;
  options.embed = &HalfMeans;
  absl::StatusOr<std::unique_ptr<::latentsearch::testing::FakeEncoderService>> e =
      ::latentsearch::testing::FakeEncoderService::Start(std::move(options));
  if (!e.ok()) {
    ADD_FAILURE() << e.status();
    return;
  }
  encoder_ = e->release();
  absl::StatusOr<std::unique_ptr<::latentsearch::testing::Subprocess>> s =
      ::latentsearch::testing::Subprocess::StartServer(
          {bin, "--listen=127.0.0.1:0", "--data_dir=" + tmp_->Join("search"),
           "--encoder=" + encoder_->address()},
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
  delete encoder_;
  delete search_;
  delete tmp_;
  encoder_ = nullptr;
  search_ = nullptr;
  tmp_ = nullptr;
}

void CliPipelineTest::SetUp() {
  if (search_ == nullptr) GTEST_SKIP() << "latentsearch-search not built";
}

std::vector<std::string> CliPipelineTest::Addr(std::vector<std::string> args) {
  args.push_back("--search_address=" + search_->address());
  if (args[0] == "ingest") args.push_back("--encoder_address=" + encoder_->address());
  return args;
}

}  // namespace latentsearch::cli

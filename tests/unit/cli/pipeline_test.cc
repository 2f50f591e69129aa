// The CLI's service subcommands in process against the real search binary
// (latentsearch-search on loopback, port 0) and a fake encoder served from
// this process (a deterministic 4-d embedding of each image, so no LibTorch
// is needed): error paths, ingest resumability, query tables and sheets,
// eval output.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "clients/cli/command.h"
#include "clients/cli/commands.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/encoder.grpc.pb.h"

namespace latentsearch::cli {
namespace {

using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCli(std::vector<std::string> args) {
  absl::FlagSaver saver;
  args.insert(args.begin(), "latentsearch");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  const int code = Main(static_cast<int>(argv.size()), argv.data(), Commands(), out, err);
  return {code, out.str(), err.str()};
}

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// Embeds an image as (mean of the first half of its bytes, mean of the
// second half, channels, 1) / 255-ish: images of one colour land together.
class FakeEncoder final : public v1::Encoder::Service {
 public:
  grpc::Status Encode(grpc::ServerContext*, const v1::EncodeRequest* req,
                      v1::EncodeResponse* resp) override {
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
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest* req,
                          v1::ListModelsResponse* resp) override {
    if (!req->name().empty() && req->name() != "fake") return grpc::Status::OK;
    v1::ModelInfo* m = resp->add_models();
    m->mutable_metadata()->mutable_model()->set_name("fake");
    m->mutable_metadata()->mutable_model()->set_version(1);
    m->mutable_metadata()->set_latent_size(4);
    m->set_newest(true);
    return grpc::Status::OK;
  }
  std::atomic<int> calls_{0};
};

class CliPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string bin = ::latentsearch::testing::BinaryPath("latentsearch-search");
    if (!base::FileSize(bin).ok()) return;
    tmp_ = new TempDir();
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
    // A labelled folder: 2 classes of 5 images, dark "ant", bright "bee".
    for (int c = 0; c < 2; ++c) {
      for (int i = 0; i < 5; ++i) {
        image::Image img(12, 10, 3);
        for (size_t p = 0; p < img.pixels.size(); ++p) {
          img.pixels[p] = static_cast<uint8_t>(c * 180 + i * 3 + (p % 7));
        }
        const std::string path =
            tmp_->Join(absl::StrCat("set/", c ? "bee" : "ant", "/", i, ".png"));
        ASSERT_OK(base::MakeDirs(path.substr(0, path.find_last_of('/'))));
        ASSERT_OK_AND_ASSIGN(std::string png, image::EncodePng(img));
        ASSERT_OK(base::WriteFileAtomically(path, png));
      }
    }
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->Shutdown();
    delete server_;
    delete encoder_;
    delete search_;
    delete tmp_;
  }
  void SetUp() override {
    if (search_ == nullptr) GTEST_SKIP() << "latentsearch-search not built";
  }

  std::vector<std::string> Addr(std::vector<std::string> args) {
    args.push_back("--search_address=" + search_->address());
    // Only ingest talks to the encoder (the others refuse the flag).
    if (args[0] == "ingest") args.push_back("--encoder_address=" + encoder_address_);
    return args;
  }

  static TempDir* tmp_;
  static ::latentsearch::testing::Subprocess* search_;
  static FakeEncoder* encoder_;
  static grpc::Server* server_;
  static std::string encoder_address_;
};

TempDir* CliPipelineTest::tmp_ = nullptr;
::latentsearch::testing::Subprocess* CliPipelineTest::search_ = nullptr;
FakeEncoder* CliPipelineTest::encoder_ = nullptr;
grpc::Server* CliPipelineTest::server_ = nullptr;
std::string CliPipelineTest::encoder_address_;

TEST(CliErrorTest, ServiceDownIsOneUnavailableLineAndExitOne) {
  TempDir tmp;
  const std::string addr = "unix:" + tmp.Join("nobody-listens.sock");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"query", "--collection=c", "--id=x", "--search_address=" + addr},
           {"eval", "--collection=c", "--search_address=" + addr},
           {"jobs", "--trainer_address=" + addr},
           {"stop", "job-1", "--trainer_address=" + addr},
       }) {
    Result r = RunCli(args);
    EXPECT_EQ(r.code, kExitFailure) << args[0] << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, StartsWith("error: UNAVAILABLE: ")) << r.err;
    EXPECT_THAT(r.err, HasSubstr(" at " + addr + ")")) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
}

TEST(CliErrorTest, UnreadableImageFileIsOneClearLineAndExitOne) {
  TempDir tmp;
  Result missing = RunCli({"query", "--collection=c", tmp.Join("missing.png")});
  EXPECT_EQ(missing.code, kExitFailure);
  EXPECT_EQ(Lines(missing.err), 1);
  EXPECT_THAT(missing.err, StartsWith("error: NOT_FOUND: "));
  EXPECT_THAT(missing.err, HasSubstr("missing.png"));
  ASSERT_OK(base::WriteFileAtomically(tmp.Join("junk.png"), "not an image"));
  Result junk = RunCli({"query", "--collection=c", tmp.Join("junk.png")});
  EXPECT_EQ(junk.code, kExitFailure);
  EXPECT_EQ(Lines(junk.err), 1);
  EXPECT_THAT(junk.err, StartsWith("error: DATA_LOSS: cannot decode image file "));
  EXPECT_THAT(junk.err, HasSubstr("junk.png"));
}

TEST(CliErrorTest, BadFlagsAreUsageErrors) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"query", "--bogus"},
           {"query", "--k=many", "--id=x"},
           {"query", "--id=x", "--metric=manhattan"},
           {"query", "--id=x", "--k=0"},
           {"eval", "--index=ivf"},
           {"ingest", "--batch=0"},
           {"train", "--dataset=idx", "--path=/x", "--optimizer=sgd"},
           {"query"},
       }) {
    Result r = RunCli(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << " " << args.back() << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
  }
  EXPECT_THAT(RunCli({"query", "--bogus"}).err,
              HasSubstr("unknown flag --bogus; run 'latentsearch query --help'"));
  Result help = RunCli({"query", "--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("--sheet"));
  EXPECT_THAT(help.out, HasSubstr("--search_address (default: 127.0.0.1:50053)"));
}

TEST_F(CliPipelineTest, UnknownCollectionIsOneNotFoundLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"query", "--collection=nope", "--id=x"},
           {"eval", "--collection=nope"},
           {"ingest", "--reindex", "--collection=nope"},
       }) {
    Result r = RunCli(Addr(args));
    EXPECT_EQ(r.code, kExitFailure) << args[0] << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, StartsWith("error: NOT_FOUND: ")) << r.err;
    EXPECT_THAT(r.err, HasSubstr("nope"));
    EXPECT_THAT(r.err, HasSubstr("(search at " + search_->address() + ")"));
  }
}

TEST_F(CliPipelineTest, IngestIsResumableThenQueryAndEval) {
  const std::vector<std::string> ingest = {
      "ingest",       "--dataset=folder",  "--path=" + tmp_->Join("set"),
      "--model=fake", "--collection=pics", "--batch=3",
      "--json"};
  Result first = RunCli(Addr(ingest));
  ASSERT_EQ(first.code, kExitOk) << first.err;
  EXPECT_THAT(first.out, HasSubstr("\"created\":true"));
  EXPECT_THAT(first.out, HasSubstr("\"upserted\":10"));
  EXPECT_THAT(first.out, HasSubstr("\"item_count\":10"));
  const int calls = encoder_->calls_.load();
  EXPECT_EQ(calls, 4);  // ceil(10 / 3) batches

  Result again = RunCli(Addr(ingest));
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_THAT(again.out, HasSubstr("\"created\":false"));
  EXPECT_THAT(again.out, HasSubstr("\"skipped\":10"));
  EXPECT_THAT(again.out, HasSubstr("\"upserted\":0"));
  EXPECT_THAT(again.out, HasSubstr("\"item_count\":10"));
  EXPECT_EQ(encoder_->calls_.load(), calls);  // nothing encoded again

  // By id: the item itself is left out; its class comes from its folder.
  const std::string sheet = tmp_->Join("out/sheet.png");
  Result q =
      RunCli(Addr({"query", "--collection=pics", "--id=ant/0.png", "--k=3", "--sheet=" + sheet}));
  ASSERT_EQ(q.code, kExitOk) << q.err;
  EXPECT_THAT(q.out, HasSubstr("query: ant/0.png (label 0, ant)"));
  EXPECT_THAT(q.out, HasSubstr("l1 exact:"));
  EXPECT_THAT(q.out, HasSubstr("cosine exact:"));
  EXPECT_THAT(q.out, ::testing::ContainsRegex("1  ant/[1-4].png +0  ant"));
  EXPECT_THAT(q.out, ::testing::Not(HasSubstr("  ant/0.png")));
  ASSERT_OK_AND_ASSIGN(std::string png, base::ReadFile(sheet));
  ASSERT_OK_AND_ASSIGN(image::Image img, image::Decode(png));
  EXPECT_EQ(img.width, 4 * 80 + 5 * 2);
  EXPECT_EQ(img.height, 3 * (80 + 11) + 4 * 2);

  // By image file, JSON.
  Result qf = RunCli(Addr({"query", "--collection=pics", "--metric=l2", "--k=2", "--json",
                           tmp_->Join("set/bee/3.png")}));
  ASSERT_EQ(qf.code, kExitOk) << qf.err;
  EXPECT_THAT(qf.out, HasSubstr("\"metric\":\"l2\""));
  EXPECT_THAT(qf.out, HasSubstr("\"rank\":1,\"id\":\"bee/3.png\""));

  Result e = RunCli(
      Addr({"eval", "--collection=pics", "--queries=6", "--k=2", "--map_depth=4", "--json"}));
  ASSERT_EQ(e.code, kExitOk) << e.err;
  EXPECT_THAT(e.out, HasSubstr("\"queries\":6"));
  EXPECT_THAT(e.out, HasSubstr("\"source\":\"raw pixels\""));
  EXPECT_THAT(e.out, HasSubstr("\"index\":\"hnsw\""));
  // Two well separated classes of five: every neighbour is of the query's class.
  EXPECT_THAT(e.out, HasSubstr("\"source\":\"model\",\"metric\":\"l2\",\"index\":\"exact\","
                               "\"precision_at_k\":1,\"precision_at_k_including_self\":1,"
                               "\"map\":1"));
  Result et = RunCli(Addr({"eval", "--collection=pics", "--queries=6", "--k=2", "--map_depth=4",
                           "--metric=l2", "--index=exact"}));
  ASSERT_EQ(et.code, kExitOk) << et.err;
  EXPECT_THAT(et.out, ::testing::ContainsRegex("model +l2 +exact +1.000 +1.000 +1.000"));
  EXPECT_THAT(et.out, ::testing::ContainsRegex("raw pixels +l2 +exact"));
}

}  // namespace
}  // namespace latentsearch::cli

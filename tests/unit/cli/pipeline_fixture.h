// The services the CLI's pipeline tests talk to: the real search binary
// (latentsearch-search on loopback, port 0) and a fake encoder served from
// the test process (a deterministic 4-d embedding of each image, so no
// LibTorch is needed), plus a labelled image folder of two classes ("ant"
// dark, "bee" bright, five 12 x 10 RGB PNGs each) under set/.
// Each test suite deriving from CliPipelineTest starts its own set in
// SetUpTestSuite and stops it in TearDownTestSuite; tests skip when the
// search binary is not built.
// Thread-safety: the fixture is used from the test thread; FakeEncoder is
// called from gRPC threads (its counter is atomic).
#ifndef LATENTSEARCH_TESTS_UNIT_CLI_PIPELINE_FIXTURE_H_
#define LATENTSEARCH_TESTS_UNIT_CLI_PIPELINE_FIXTURE_H_

#include <atomic>
#include <string>
#include <vector>

#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "grpcpp/server.h"
#include "gtest/gtest.h"
#include "latentsearch/v1/encoder.grpc.pb.h"

namespace latentsearch::cli {

// Embeds an image as (mean of the first half of its bytes, mean of the
// second half, channels, 1) / 255-ish: images of one colour land together.
// Serves one model, "fake" v1 of latent size 4.
class FakeEncoder final : public v1::Encoder::Service {
 public:
  grpc::Status Encode(grpc::ServerContext*, const v1::EncodeRequest* req,
                      v1::EncodeResponse* resp) override;
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest* req,
                          v1::ListModelsResponse* resp) override;
  std::atomic<int> calls_{0};  // Encode calls so far.
};

class CliPipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;

  // `args` plus --search_address (and --encoder_address for ingest, the
  // only subcommand here that talks to the encoder).
  std::vector<std::string> Addr(std::vector<std::string> args);

  static ::latentsearch::testing::TempDir* tmp_;
  static ::latentsearch::testing::Subprocess* search_;
  static FakeEncoder* encoder_;
  static grpc::Server* server_;
  static std::string encoder_address_;
};

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_TESTS_UNIT_CLI_PIPELINE_FIXTURE_H_

// The services the CLI's pipeline tests talk to: the real search binary
// (latentsearch-search on loopback, port 0) and the shared fake encoder
// (common/testing/fake_encoder_service.h) served from the test process,
// model "fake" v1 of latent size 4 embedding an image as (mean of the first
// half of its bytes, mean of the second half, channels, 1) / 255-ish, so
// images of one colour land together and no LibTorch is needed; plus a
// labelled image folder of two classes ("ant" dark, "bee" bright, five
// 12 x 10 RGB PNGs each) under set/.
// Each test suite deriving from CliPipelineTest starts its own set in
// SetUpTestSuite and stops it in TearDownTestSuite; tests skip when the
// search binary is not built.
// Thread-safety: the fixture is used from the test thread; the fake encoder
// is called from gRPC threads (it is thread-safe).
#ifndef LATENTSEARCH_TESTS_UNIT_CLI_PIPELINE_FIXTURE_H_
#define LATENTSEARCH_TESTS_UNIT_CLI_PIPELINE_FIXTURE_H_

#include <string>
#include <vector>

#include "common/testing/fake_encoder_service.h"
#include "common/testing/subprocess.h"
#include "common/testing/test_env.h"
#include "gtest/gtest.h"

namespace latentsearch::cli {

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
  static ::latentsearch::testing::FakeEncoderService* encoder_;
};

}  // namespace latentsearch::cli

#endif  // LATENTSEARCH_TESTS_UNIT_CLI_PIPELINE_FIXTURE_H_

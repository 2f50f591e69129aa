// `latentsearch train` / `watch` in text mode against the fake trainer: the
// event lines, and the end of a job that stopped on its time budget (the
// output ends on the job's outcome, not on a progress line with an ETA).
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/cli_runner.h"
#include "tests/unit/cli/fake_trainer.h"

namespace latentsearch::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(CliTrainFollowTest, EndsOnTheJobsOutcomeNotAStaleProgressLine) {
  FakeTrainerServer trainer;
  const std::string addr = "--trainer_address=" + trainer.address();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"train", "--dataset=idx", "--path=/data/fashion-mnist", addr},
           {"watch", "job-000001", addr}}) {
    const CliResult r = RunCli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    std::vector<std::string> lines = absl::StrSplit(r.err, '\n', absl::SkipEmpty());
    ASSERT_GE(lines.size(), 4u) << r.err;
    EXPECT_EQ(lines.back(), "job job-000001 succeeded: stopped at the time budget (120 s)")
        << r.err;
    // The last progress line comes before it, once.
    EXPECT_THAT(lines[lines.size() - 2], HasSubstr("step 2634/5280"));
    EXPECT_THAT(lines[lines.size() - 2], StartsWith("epoch 2 ["));
    EXPECT_THAT(r.err, HasSubstr("epoch 1: train loss 0.03750, validation loss 0.03625, "
                                 "k-NN P@10 0.812 (cosine 0.825) (61.2 s)\n"));
    EXPECT_THAT(r.err, HasSubstr("checkpoint default v3 written\n"));
    EXPECT_THAT(r.err, HasSubstr("pushed default v3 to 127.0.0.1:50052\n"));
  }
}

}  // namespace
}  // namespace latentsearch::cli

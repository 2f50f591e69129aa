// Pins the CLI's --json output byte for byte: every subcommand that prints
// JSON (ingest, ingest --reindex, query, eval, train, train --detach,
// watch, jobs) runs against the pipeline fixture's search service and fake
// encoder or the fake trainer, and its stdout is compared with a committed
// file in testdata/golden/. Only what varies from run to run is normalised
// first: the temporary directory (-> $TMP) and timings ("seconds",
// "took_micros" -> 0).
//
// To re-record after an intended change: LS_UPDATE_GOLDEN=1 ./cli_pipeline_test
// --gtest_filter='CliJsonGolden*' (writes into the source tree), then review
// the diff.
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "common/base/file.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/cli_runner.h"
#include "tests/unit/cli/fake_trainer.h"
#include "tests/unit/cli/pipeline_fixture.h"

namespace latentsearch::cli {
namespace {

std::string GoldenPath(const std::string& name) {
  return base::JoinPath(::latentsearch::testing::SourceDir(),
                        "tests/unit/cli/testdata/golden/" + name + ".json");
}

// Replaces `tmp` by $TMP and timings by 0.
std::string Normalise(const std::string& out, const std::string& tmp) {
  std::string s = tmp.empty() ? out : absl::StrReplaceAll(out, {{tmp, "$TMP"}});
  s = std::regex_replace(s, std::regex(R"re("seconds":[-+0-9.eE]+)re"), "\"seconds\":0");
  return std::regex_replace(s, std::regex(R"re("took_micros":[0-9]+)re"), "\"took_micros\":0");
}

// Runs `args`, expects exit 0 and stdout equal to golden file `name`.
void ExpectGolden(const std::string& name, const std::vector<std::string>& args,
                  const std::string& tmp) {
  SCOPED_TRACE(name);
  const CliResult r = RunCli(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string got = Normalise(r.out, tmp);
  const std::string path = GoldenPath(name);
  if (std::getenv("LS_UPDATE_GOLDEN") != nullptr) {
    ASSERT_OK(base::WriteFileAtomically(path, got));
    return;
  }
  ASSERT_OK_AND_ASSIGN(std::string want, base::ReadFile(path));
  EXPECT_EQ(got, want) << "stdout of latentsearch " << args[0] << " differs from " << path;
}

class CliJsonGoldenTest : public CliPipelineTest {};

TEST_F(CliJsonGoldenTest, IngestQueryEval) {
  const std::string tmp = tmp_->path();
  const std::vector<std::string> ingest = {
      "ingest",       "--dataset=folder",    "--path=" + tmp_->Join("set"),
      "--model=fake", "--collection=golden", "--batch=4",
      "--json"};
  ExpectGolden("ingest_created", Addr(ingest), tmp);
  ExpectGolden("ingest_resumed", Addr(ingest), tmp);
  ExpectGolden("ingest_reindex_up_to_date",
               Addr({"ingest", "--reindex", "--collection=golden", "--json"}), tmp);
  ExpectGolden("query_by_id",
               Addr({"query", "--collection=golden", "--id=ant/0.png", "--k=3", "--json"}), tmp);
  ExpectGolden("query_two_files",
               Addr({"query", "--collection=golden", "--metric=l2", "--k=2", "--json",
                     tmp_->Join("set/bee/3.png"), tmp_->Join("set/ant/1.png")}),
               tmp);
  ExpectGolden(
      "eval",
      Addr({"eval", "--collection=golden", "--queries=6", "--k=2", "--map_depth=4", "--json"}),
      tmp);
  std::vector<std::string> ingest_q = ingest;
  ingest_q[4] = "--collection=golden-queries";
  ASSERT_EQ(RunCli(Addr(ingest_q)).code, 0);
  ExpectGolden("eval_query_collection",
               Addr({"eval", "--collection=golden", "--query_collection=golden-queries",
                     "--queries=4", "--k=3", "--map_depth=5", "--metric=cosine", "--index=exact",
                     "--nobaseline", "--json"}),
               tmp);
}

TEST(CliJsonGoldenTrainerTest, TrainWatchJobs) {
  FakeTrainerServer trainer;
  const std::string addr = "--trainer_address=" + trainer.address();
  ExpectGolden("train_detach",
               {"train", "--dataset=idx", "--path=/data/fashion-mnist", "--detach", "--json", addr},
               "");
  ExpectGolden("train_follow",
               {"train", "--dataset=idx", "--path=/data/fashion-mnist", "--json", addr}, "");
  ExpectGolden("watch", {"watch", "job-000001", "--json", addr}, "");
  ExpectGolden("jobs", {"jobs", "--json", addr}, "");
}

}  // namespace
}  // namespace latentsearch::cli

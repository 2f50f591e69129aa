// The CLI's service subcommands in process against the real search binary
// and a fake encoder (pipeline_fixture.h): error paths, ingest resumability,
// query tables and sheets, eval output.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/cli/command.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/cli_runner.h"
#include "tests/unit/cli/pipeline_fixture.h"

namespace latentsearch::cli {
namespace {

using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(CliErrorTest, ServiceDownIsOneUnavailableLineAndExitOne) {
  TempDir tmp;
  const std::string addr = "unix:" + tmp.Join("nobody-listens.sock");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"query", "--collection=c", "--id=x", "--search_address=" + addr},
           {"eval", "--collection=c", "--search_address=" + addr},
           {"jobs", "--trainer_address=" + addr},
           {"stop", "job-1", "--trainer_address=" + addr},
       }) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.code, kExitFailure) << args[0] << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_THAT(r.err, StartsWith("error: UNAVAILABLE: ")) << r.err;
    EXPECT_THAT(r.err, HasSubstr(" at " + addr + ")")) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
}

TEST(CliErrorTest, UnreadableImageFileIsOneClearLineAndExitOne) {
  TempDir tmp;
  CliResult missing = RunCli({"query", "--collection=c", tmp.Join("missing.png")});
  EXPECT_EQ(missing.code, kExitFailure);
  EXPECT_EQ(Lines(missing.err), 1);
  EXPECT_THAT(missing.err, StartsWith("error: NOT_FOUND: "));
  EXPECT_THAT(missing.err, HasSubstr("missing.png"));
  ASSERT_OK(base::WriteFileAtomically(tmp.Join("junk.png"), "not an image"));
  CliResult junk = RunCli({"query", "--collection=c", tmp.Join("junk.png")});
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
    CliResult r = RunCli(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << " " << args.back() << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
  }
  EXPECT_THAT(RunCli({"query", "--bogus"}).err,
              HasSubstr("unknown flag --bogus; run 'latentsearch query --help'"));
  CliResult help = RunCli({"query", "--help"});
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
    CliResult r = RunCli(Addr(args));
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
  CliResult first = RunCli(Addr(ingest));
  ASSERT_EQ(first.code, kExitOk) << first.err;
  EXPECT_THAT(first.out, HasSubstr("\"created\":true"));
  EXPECT_THAT(first.out, HasSubstr("\"upserted\":10"));
  EXPECT_THAT(first.out, HasSubstr("\"item_count\":10"));
  const int calls = encoder_->encode_calls();
  EXPECT_EQ(calls, 4);  // ceil(10 / 3) batches

  CliResult again = RunCli(Addr(ingest));
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_THAT(again.out, HasSubstr("\"created\":false"));
  EXPECT_THAT(again.out, HasSubstr("\"skipped\":10"));
  EXPECT_THAT(again.out, HasSubstr("\"upserted\":0"));
  EXPECT_THAT(again.out, HasSubstr("\"item_count\":10"));
  EXPECT_EQ(encoder_->encode_calls(), calls);  // nothing encoded again

  // By id: the item itself is left out; its class comes from its folder.
  const std::string sheet = tmp_->Join("out/sheet.png");
  CliResult q =
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
  CliResult qf = RunCli(Addr({"query", "--collection=pics", "--metric=l2", "--k=2", "--json",
                              tmp_->Join("set/bee/3.png")}));
  ASSERT_EQ(qf.code, kExitOk) << qf.err;
  EXPECT_THAT(qf.out, HasSubstr("\"metric\":\"l2\""));
  EXPECT_THAT(qf.out, HasSubstr("\"rank\":1,\"id\":\"bee/3.png\""));

  CliResult e = RunCli(
      Addr({"eval", "--collection=pics", "--queries=6", "--k=2", "--map_depth=4", "--json"}));
  ASSERT_EQ(e.code, kExitOk) << e.err;
  EXPECT_THAT(e.out, HasSubstr("\"queries\":6"));
  EXPECT_THAT(e.out, HasSubstr("\"source\":\"raw pixels\""));
  EXPECT_THAT(e.out, HasSubstr("\"index\":\"hnsw\""));
  // Two well separated classes of five: every neighbour is of the query's class.
  EXPECT_THAT(e.out, HasSubstr("\"source\":\"model\",\"metric\":\"l2\",\"index\":\"exact\","
                               "\"precision_at_k\":1,\"precision_at_k_including_self\":1,"
                               "\"map\":1"));
  CliResult et = RunCli(Addr({"eval", "--collection=pics", "--queries=6", "--k=2", "--map_depth=4",
                              "--metric=l2", "--index=exact"}));
  ASSERT_EQ(et.code, kExitOk) << et.err;
  EXPECT_THAT(et.out, ::testing::ContainsRegex("model +l2 +exact +1.000 +1.000 +1.000"));
  EXPECT_THAT(et.out, ::testing::ContainsRegex("raw pixels +l2 +exact"));
}

}  // namespace
}  // namespace latentsearch::cli

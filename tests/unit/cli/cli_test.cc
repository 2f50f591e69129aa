#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "clients/cli/command.h"
#include "clients/cli/train.h"
#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/status_matchers.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/cli/cli_runner.h"

namespace latentsearch::cli {
namespace {

using ::latentsearch::testing::StatusIs;
using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

TEST(CliTest, UsageAndHelp) {
  CliResult none = RunCli({});
  EXPECT_EQ(none.code, kExitUsage);
  EXPECT_THAT(none.err, HasSubstr("Usage: latentsearch <subcommand>"));
  CliResult help = RunCli({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_THAT(help.out, HasSubstr("data-info"));
  CliResult sub = RunCli({"data-info", "--help"});
  EXPECT_EQ(sub.code, kExitOk);
  EXPECT_THAT(sub.out, HasSubstr("--grid_rows (default: 8)"));
  EXPECT_THAT(sub.out, HasSubstr("--dataset"));
}

TEST(CliTest, UsageErrorsExitWithTwoAndOneLine) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"frobnicate"},
           {"data-info", "--bogus=1"},
           {"data-info", "--grid_rows=abc"},
           {"data-info", "--grid_rows"},
           {"data-info", "--path=/x"},
           {"data-info", "--dataset=mnist", "--path=/x"},
           {"data-info", "--dataset=idx", "--path=/x", "--split=val"},
           {"data-info", "--dataset=idx", "--path=/x", "stray"},
           {"data-info", "--nogrid_rows"},
       }) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.code, kExitUsage) << absl::StrJoin(args, " ") << ": " << r.err;
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  EXPECT_THAT(RunCli({"data-info", "--bogus=1"}).err, HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(RunCli({"data-info", "--dataset=mnist", "--path=/x"}).err,
              HasSubstr("expected cifar10, idx or folder"));
}

// Sets command-line flags by name (they are defined in the CLI library).
void SetFlags(const std::vector<std::pair<std::string, std::string>>& flags) {
  for (const auto& [name, value] : flags) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    ASSERT_NE(flag, nullptr) << name;
    std::string error;
    ASSERT_TRUE(flag->ParseFrom(value, &error)) << name << ": " << error;
  }
}

TEST(CliTrainConfigTest, ContrastiveRecipeFlagsReachTheJob) {
  absl::FlagSaver saver;
  SetFlags({{"dataset", "idx"},
            {"path", "/data/fashion-mnist"},
            {"architecture", "resnet_small"},
            {"objective", "contrastive"},
            {"optimizer", "adamw"},
            {"weight_decay", "0.0001"},
            {"lr_schedule", "warmup_cosine"},
            {"temperature", "0.3"},
            {"reconstruction_weight", "10"},
            {"min_crop_scale", "0.7"},
            {"jitter_probability", "0"},
            {"jitter_strength", "0.2"}});
  ASSERT_OK_AND_ASSIGN(v1::TrainingConfig c, TrainingConfigFromFlags());
  EXPECT_EQ(c.dataset().idx_dir(), "/data/fashion-mnist");
  EXPECT_EQ(c.objective(), v1::OBJECTIVE_CONTRASTIVE);
  EXPECT_EQ(c.optimizer(), v1::OPTIMIZER_ADAMW);
  EXPECT_EQ(c.weight_decay(), 0.0001);
  EXPECT_EQ(c.lr_schedule(), v1::LR_SCHEDULE_WARMUP_COSINE);
  EXPECT_EQ(c.temperature(), 0.3);
  EXPECT_EQ(c.reconstruction_weight(), 10);
  ASSERT_TRUE(c.views().has_min_crop_scale());
  EXPECT_EQ(c.views().min_crop_scale(), 0.7);
  ASSERT_TRUE(c.views().has_jitter_probability());  // 0 is a value, not "unset".
  EXPECT_EQ(c.views().jitter_probability(), 0);
  EXPECT_EQ(c.views().jitter_strength(), 0.2);
  EXPECT_FALSE(c.views().has_flip_probability());
  EXPECT_FALSE(c.views().has_grayscale_probability());
  EXPECT_FALSE(c.has_warmup_fraction());
  EXPECT_EQ(c.eval_images(), 0u);
  EXPECT_EQ(c.threads(), 0u);
  SetFlags({{"flip_probability", "0"},
            {"grayscale_probability", "0.5"},
            {"warmup_fraction", "0.1"},
            {"eval_images", "500"},
            {"train_threads", "1"}});
  ASSERT_OK_AND_ASSIGN(v1::TrainingConfig more, TrainingConfigFromFlags());
  ASSERT_TRUE(more.views().has_flip_probability());  // 0: no flips, no mirror-averaging.
  EXPECT_EQ(more.views().flip_probability(), 0);
  EXPECT_EQ(more.views().grayscale_probability(), 0.5);
  ASSERT_TRUE(more.has_warmup_fraction());
  EXPECT_EQ(more.warmup_fraction(), 0.1);
  EXPECT_EQ(more.eval_images(), 500u);
  EXPECT_EQ(more.threads(), 1u);
  EXPECT_EQ(c.embedding(), v1::EMBEDDING_KIND_UNSPECIFIED);  // The trainer's default.
  SetFlags({{"embedding", "latent"}});
  ASSERT_OK_AND_ASSIGN(v1::TrainingConfig latent, TrainingConfigFromFlags());
  EXPECT_EQ(latent.embedding(), v1::EMBEDDING_KIND_LATENT);
  SetFlags({{"embedding", "whitened"}});
  ASSERT_OK_AND_ASSIGN(v1::TrainingConfig whitened, TrainingConfigFromFlags());
  EXPECT_EQ(whitened.embedding(), v1::EMBEDDING_KIND_WHITENED);
  SetFlags({{"embedding", "pca"}});
  EXPECT_THAT(TrainingConfigFromFlags().status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--embedding=pca: expected latent or whitened")));
}

// Every flag TrainingConfigFromFlags reads must also be one `train` accepts
// (a flag missing from the command's list is refused as unknown).
TEST(CliTrainConfigTest, TrainAcceptsEveryRecipeFlag) {
  CliResult help = RunCli({"train", "--help"});
  ASSERT_EQ(help.code, kExitOk);
  for (const char* flag : {"architecture",
                           "latent",
                           "epochs",
                           "batch_size",
                           "optimizer",
                           "lr",
                           "objective",
                           "weight_decay",
                           "lr_schedule",
                           "warmup_fraction",
                           "temperature",
                           "reconstruction_weight",
                           "min_crop_scale",
                           "jitter_probability",
                           "jitter_strength",
                           "flip_probability",
                           "grayscale_probability",
                           "embedding",
                           "eval_images",
                           "train_threads",
                           "checkpoint",
                           "time_budget",
                           "max_train_images",
                           "train_seed",
                           "push_to",
                           "model",
                           "detach"}) {
    EXPECT_THAT(help.out, HasSubstr(absl::StrCat("--", flag, " (default:"))) << flag;
  }
  // Also every flag defined for train (help text "train: ..."), so a new
  // one cannot be left out of the command's list unnoticed.
  int train_flags = 0;
  for (const auto& [name, f] : absl::GetAllFlags()) {
    if (!absl::StartsWith(f->Help(), "train:")) continue;
    ++train_flags;
    EXPECT_THAT(help.out, HasSubstr(absl::StrCat("--", name, " (default:"))) << name;
  }
  EXPECT_GE(train_flags, 25);
}

TEST(CliTrainConfigTest, UnsetViewFlagsLeaveTheTrainersDefaults) {
  absl::FlagSaver saver;
  SetFlags({{"dataset", "cifar10"}, {"path", "/data/cifar10"}});
  ASSERT_OK_AND_ASSIGN(v1::TrainingConfig c, TrainingConfigFromFlags());
  EXPECT_FALSE(c.has_views());
  EXPECT_EQ(c.lr_schedule(), v1::LR_SCHEDULE_UNSPECIFIED);
  // A negative value is sent, so the trainer refuses it (not read as "unset").
  SetFlags({{"min_crop_scale", "-0.5"}});
  ASSERT_OK_AND_ASSIGN(v1::TrainingConfig negative, TrainingConfigFromFlags());
  ASSERT_TRUE(negative.views().has_min_crop_scale());
  EXPECT_EQ(negative.views().min_crop_scale(), -0.5);
  SetFlags({{"checkpoint", "sometimes"}});
  EXPECT_THAT(TrainingConfigFromFlags().status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--checkpoint=sometimes: expected best, every_epoch or end")));
  SetFlags({{"checkpoint", ""}, {"lr_schedule", "cosine"}});
  EXPECT_THAT(TrainingConfigFromFlags().status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--lr_schedule=cosine: expected constant or warmup_cosine")));
}

TEST(CliTest, MissingDataExitsWithOneAndNamesIt) {
  CliResult r = RunCli({"data-info", "--dataset=cifar10", "--path=/nonexistent/cifar"});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_EQ(Lines(r.err), 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/cifar/data_batch_1.bin"));
}

class CliFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* rel : {"set/ant/1.png", "set/ant/2.png", "set/bee/1.png"}) {
      image::Image img(12, 10, 3);
      for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i);
      absl::StatusOr<std::string> png = image::EncodePng(img);
      ASSERT_OK(png.status());
      const std::string path = tmp_.Join(rel);
      ASSERT_OK(base::MakeDirs(path.substr(0, path.find_last_of('/'))));
      ASSERT_OK(base::WriteFileAtomically(path, *png));
    }
  }
  TempDir tmp_;
};

TEST_F(CliFolderTest, PrintsCountsAndWritesGrid) {
  const std::string grid = tmp_.Join("out/sub/grid.png");
  CliResult r = RunCli({"data-info", "--dataset=folder", "--path", tmp_.Join("set"),
                        "--image_height=8", "--image_width=8", "--grid=" + grid, "--grid_rows", "2",
                        "--grid_cols=3", "--seed=7"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(r.err.empty());
  EXPECT_THAT(r.out, HasSubstr("images:   3\n"));
  EXPECT_THAT(r.out, HasSubstr("shape:    8 x 8 x 3"));
  EXPECT_THAT(r.out, HasSubstr("classes:  2\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("0  ant +2  +66.7%"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("1  bee +1  +33.3%"));
  EXPECT_THAT(r.out, HasSubstr("grid:     " + grid));
  ASSERT_OK_AND_ASSIGN(std::string png, base::ReadFile(grid));
  ASSERT_OK_AND_ASSIGN(image::Image sheet, image::Decode(png));
  // Auto scale 8 → 64-pixel tiles; margin 2; caption band 11.
  EXPECT_EQ(sheet.width, 3 * 64 + 4 * 2);
  EXPECT_EQ(sheet.height, 2 * (64 + 11) + 3 * 2);
}

TEST_F(CliFolderTest, UnlabelledFolder) {
  CliResult r = RunCli({"data-info", "--dataset=folder", "--path=" + tmp_.Join("set/ant"),
                        "--nolabelled", "--image_channels=1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("images:   2\n"));
  EXPECT_THAT(r.out, HasSubstr("x 1 (height"));
  EXPECT_THAT(r.out, HasSubstr("classes:  none (unlabelled)"));
}

TEST_F(CliFolderTest, BadFolderOptionIsAUsageError) {
  CliResult r =
      RunCli({"data-info", "--dataset=folder", "--path=" + tmp_.Join("set"), "--image_channels=2"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("1 or 3 channels"));
  CliResult split =
      RunCli({"data-info", "--dataset=folder", "--path=" + tmp_.Join("set"), "--split=train"});
  EXPECT_EQ(split.code, kExitUsage);
}

TEST(CliRealDataTest, FashionMnist) {
  std::optional<std::string> dir = ::latentsearch::testing::FashionMnistDir();
  if (!dir) GTEST_SKIP() << "Fashion-MNIST not found";
  CliResult r = RunCli({"data-info", "--dataset=idx", "--path=" + *dir, "--split=test"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("images:   10000\n"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("9  Ankle boot +1000"));
}

// The real binary: exit codes reach the shell.
TEST(CliBinaryTest, ExitCodes) {
  const std::string bin = base::JoinPath(::latentsearch::testing::BinaryDir(), "bin/latentsearch");
  if (!base::FileSize(bin).ok()) GTEST_SKIP() << bin << " not built";
  auto exit_code = [&](const std::string& args) {
    const int status = std::system(absl::StrCat(bin, " ", args, " >/dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(exit_code("--help"), 0);
  EXPECT_EQ(exit_code("data-info --bogus"), 2);
  EXPECT_EQ(exit_code("data-info --dataset=cifar10 --path=/nonexistent"), 1);
}

}  // namespace
}  // namespace latentsearch::cli

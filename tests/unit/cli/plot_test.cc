// The report's charts: gnuplot (when installed) writes real PNGs of the
// requested size; a missing gnuplot is FAILED_PRECONDITION naming the
// package; a failing script leaves no file behind.
#include "clients/cli/plot.h"

#include <cstdio>
#include <string>
#include <vector>

#include "common/base/file.h"
#include "common/image/image.h"
#include "common/testing/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace latentsearch::cli {
namespace {

using ::latentsearch::testing::TempDir;
using ::testing::HasSubstr;

// Decodes the PNG at `path` (common/image) and returns it.
image::Image ReadPng(const std::string& path) {
  absl::StatusOr<std::string> bytes = base::ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<image::Image> img = image::Decode(bytes.value_or(""));
  EXPECT_TRUE(img.ok()) << img.status();
  return img.value_or(image::Image());
}

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FindGnuplot("gnuplot").ok()) GTEST_SKIP() << "gnuplot not installed";
  }
  TempDir tmp_;
  PlotOptions options_;
};

TEST_F(PlotTest, LinesScatterMatrixBars) {
  const std::vector<Series> series = {{"train", {1, 2, 3}, {0.05, 0.03, 0.02}},
                                      {"validation", {1, 2, 3}, {0.06, NAN, 0.025}}};
  ASSERT_TRUE(PlotLines(series, "loss", "epoch", "mse", false, tmp_.Join("l.png"), options_).ok());
  image::Image l = ReadPng(tmp_.Join("l.png"));
  EXPECT_EQ(l.width, options_.width);
  EXPECT_EQ(l.height, options_.height);

  const std::vector<double> x = {0, 1, 2, 3}, y = {1, 0, 1, 0};
  const std::vector<int32_t> labels = {0, 1, 1, -1};
  const std::vector<std::string> names = {"T-shirt/top", "Trouser \"quoted\""};
  ASSERT_TRUE(
      PlotScatterByClass(x, y, labels, names, "map", "PC1", "PC2", tmp_.Join("s.png"), options_)
          .ok());
  EXPECT_EQ(ReadPng(tmp_.Join("s.png")).width, options_.width);

  const std::vector<float> values = {0, 1, 2, 1, 2, 3, 2, 3, 5, 3, 1, 0};  // 4 x 3
  ASSERT_TRUE(PlotScatterMatrix(values, 4, 3, labels, {"z0", "z1", "z2"}, "matrix",
                                tmp_.Join("m.png"), options_)
                  .ok());
  image::Image m = ReadPng(tmp_.Join("m.png"));
  EXPECT_EQ(m.width, options_.width);
  EXPECT_EQ(m.height, options_.width);

  ASSERT_TRUE(PlotBars({"model l2", "pixels l2"}, {"P@10", "mAP"}, {{0.7, 0.5}, {0.6, 0.4}}, "eval",
                       "", tmp_.Join("b.png"), options_)
                  .ok());
  EXPECT_EQ(ReadPng(tmp_.Join("b.png")).height, options_.height);
}

TEST_F(PlotTest, InconsistentInputIsInvalidArgument) {
  EXPECT_EQ(PlotLines({{"a", {1, 2}, {1}}}, "", "", "", false, tmp_.Join("x.png"), options_).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(base::FileSize(tmp_.Join("x.png")).ok());
}

TEST(PlotMissingGnuplotTest, FailedPreconditionNamesThePackage) {
  PlotOptions options;
  options.gnuplot = "no-such-gnuplot-binary";
  TempDir tmp;
  absl::Status s = PlotLines({{"a", {1}, {1}}}, "", "", "", false, tmp.Join("x.png"), options);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("gnuplot-nox"));
  EXPECT_FALSE(base::FileSize(tmp.Join("x.png")).ok());
}

}  // namespace
}  // namespace latentsearch::cli
